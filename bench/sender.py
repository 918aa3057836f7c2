"""`python -m bench sender`: the CPU one Bot API call costs the sending process, by HTTP client.

The outbox and inbox workers send every reply and notification as one Bot API call
(`handlers.telegram.replies.send_call`). Here the same sendMessage (a notification's size, in
Chinese) goes to a local Bot API (a small HTTP/1.1 server in its own process, so its CPU is not
counted) through:

- `ptb`: what the workers run: `make_bot`'s ExtBot (python-telegram-bot's request building,
  the status check, its errors, the JSON answer decoded and checked) via `send_call`, on the
  workers' transport (`handlers.telegram.transport.StreamRequest`);
- `ptb_httpx`: the same on python-telegram-bot's own HTTPXRequest (what the workers ran before);
- `httpx`: a bare httpx.AsyncClient POST of the JSON body, its answer decoded and checked;
- `streams`: a bare HTTP/1.1 POST over asyncio streams on one kept-alive connection (the floor:
  no client library at all).

Each is timed one call at a time and with 8 at once (the outbox's parallel sends); the figure is
this process's CPU (user + system) per call. Every answer must be Telegram's `ok`. The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
from pydantic import SecretStr
from telegram.request import BaseRequest, HTTPXRequest

from bench.botapi import RecordingRequest
from bench.common import check
from bot.kernel.settings import Settings
from handlers.telegram.replies import send_call
from handlers.telegram.webhook import make_bot

TOKEN = "123:abc"
TEXT = "王芳 完成了您的求助 Q12（助洁，2 小时），已支付 20 分。请在 /myrequests 里确认或提出异议。"
PARALLEL = 8

Send = Callable[[dict[str, Any]], Awaitable[None]]


# --- the Bot API, in its own process -----------------------------------------------------------


async def _serve(port_out: Any) -> None:
    answers = RecordingRequest(keep=False)

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method = lines[0].split(" ")[1].rsplit("/", 1)[-1]
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
                length = int(headers.get("content-length", "0"))
                body = (await reader.readexactly(length)).decode() if length else ""
                if headers.get("content-type", "").startswith("application/json"):
                    params = json.loads(body) if body else {}
                else:
                    params = {k: v[0] for k, v in parse_qs(body).items()}
                data = json.dumps({"ok": True, "result": answers.answer(method, params)}).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(data)).encode()
                    + b"\r\n\r\n"
                    + data
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", 0)
    port_out.send(server.sockets[0].getsockname()[1])
    await server.serve_forever()


def serve(port_out: Any) -> None:
    asyncio.run(_serve(port_out))


# --- the clients -------------------------------------------------------------------------------


async def ptb_client(base: str, transport: BaseRequest | None = None) -> tuple[Send, Callable[[], Awaitable[None]]]:
    settings = Settings(
        _env_file=None,
        telegram_token=SecretStr(TOKEN),  # type: ignore[call-arg]
        telegram_api_url=f"{base}/bot",
        telegram_max_rate=0,
    )
    bot = make_bot(settings, transport)
    await bot.initialize()

    async def send(params: dict[str, Any]) -> None:
        message = await send_call(bot, {"method": "sendMessage", "params": params})
        check(isinstance(message, dict) and message.get("text") == params["text"], f"ptb: answered {message!r}")

    return send, bot.shutdown


async def httpx_client(base: str) -> tuple[Send, Callable[[], Awaitable[None]]]:
    client = httpx.AsyncClient(base_url=f"{base}/bot{TOKEN}", limits=httpx.Limits(max_connections=PARALLEL))

    async def send(params: dict[str, Any]) -> None:
        response = await client.post("/sendMessage", json=params)
        answer = response.json()
        check(
            response.status_code == 200 and answer.get("ok") and answer["result"]["text"] == params["text"],
            f"httpx: answered {response.status_code} {answer!r}",
        )

    return send, client.aclose


async def streams_client(base: str) -> tuple[Send, Callable[[], Awaitable[None]]]:
    host, port = base.removeprefix("http://").split(":")
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    path = f"/bot{TOKEN}/sendMessage"

    async def send(params: dict[str, Any]) -> None:
        reader, writer = idle.pop() if idle else await asyncio.open_connection(host, int(port))
        body = json.dumps(params).encode()
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        answer = json.loads(await reader.readexactly(length))
        idle.append((reader, writer))
        check(
            head.startswith(b"HTTP/1.1 200") and answer.get("ok") and answer["result"]["text"] == params["text"],
            f"streams: answered {head[:40]!r} {answer!r}",
        )

    async def close() -> None:
        for _, writer in idle:
            writer.close()

    return send, close


async def ptb_httpx_client(base: str) -> tuple[Send, Callable[[], Awaitable[None]]]:
    return await ptb_client(base, HTTPXRequest(connection_pool_size=PARALLEL, pool_timeout=30.0))


CLIENTS = {"ptb": ptb_client, "ptb_httpx": ptb_httpx_client, "httpx": httpx_client, "streams": streams_client}


# --- the measurement ---------------------------------------------------------------------------


async def measure(send: Send, calls: int, parallel: int) -> dict[str, float]:
    queue = iter(range(calls))

    async def lane() -> None:
        for n in queue:
            await send({"chat_id": 10_000 + n % 50, "text": f"{TEXT} #{n}"})

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(parallel)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"cpu_ms_per_call": round(cpu / calls * 1000, 3), "calls_per_s": round(calls / wall, 1)}


async def run(args: argparse.Namespace, base: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in args.clients:
        send, close = await CLIENTS[name](base)
        try:
            await measure(send, args.warmup, 1)
            out[name] = {
                "one_at_a_time": await measure(send, args.calls, 1),
                f"{PARALLEL}_at_once": await measure(send, args.calls, PARALLEL),
            }
        finally:
            await close()
        print(f"{name}: {json.dumps(out[name])}", file=sys.stderr)
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench sender", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--clients", nargs="+", choices=sorted(CLIENTS), default=list(CLIENTS))
    args = parser.parse_args(argv)
    ctx = multiprocessing.get_context("spawn")
    receive, send_port = ctx.Pipe(duplex=False)
    server = ctx.Process(target=serve, args=(send_port,), daemon=True)
    server.start()
    try:
        port = receive.recv()
        machine = {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
        out: dict[str, Any] = {"bench": "sender", "calls": args.calls, "machine": machine}
        out["clients"] = asyncio.run(run(args, f"http://127.0.0.1:{port}"))
        out["machine"]["load_average_1m_end"] = round(os.getloadavg()[0], 2)
        ptb = out["clients"].get("ptb", {}).get("one_at_a_time", {}).get("cpu_ms_per_call")
        for figures in out["clients"].values():
            if ptb:
                figures["cpu_share_of_ptb"] = round(figures["one_at_a_time"]["cpu_ms_per_call"] / ptb, 2)
    finally:
        server.terminate()
        server.join()
    print(json.dumps(out, ensure_ascii=False))
    return 0
