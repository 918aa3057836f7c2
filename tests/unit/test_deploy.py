"""The deploy files as written: compose restarts everything and checks the bots' health on the
configured port, passes every setting, needs no Telegram; nginx routes only what the platforms
and people need; the Dockerfile's health check follows LOVEBANK_HTTP_PORT. (No container runtime
here: the files are read, and the health-check commands are run against a local server.)"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.kernel.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ROUTED = ["= /telegram", "= /wechat", "/download/", "/"]


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def bots() -> dict[str, Any]:
    return {name: s for name, s in compose()["services"].items() if s.get("build")}


def test_compose_restarts_everything_and_needs_no_telegram() -> None:
    services = compose()["services"]
    assert set(bots()) == {"bot1", "bot2"}
    assert {name: s.get("restart") for name, s in services.items()} == dict.fromkeys(services, "unless-stopped")
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    assert "TELEGRAM" not in "".join(re.findall(r"\$\{[^}]*:\?[^}]*\}", text))  # nothing Telegram is required
    for bot in bots().values():
        assert bot["env_file"] == ".env"  # every LOVEBANK_ setting passes through
        assert set(bot["environment"]) == {"LOVEBANK_DATABASE_URL", "LOVEBANK_HTTP_HOST"}


def test_the_wechat_only_example_is_valid_settings(tmp_path: Path) -> None:
    example = DEPLOY / "env.wechat-only.example"
    names = {
        line.split("=", 1)[0].lstrip("# ")
        for line in example.read_text(encoding="utf-8").splitlines()
        if re.match(r"#? ?LOVEBANK_\w+=", line)
    }
    fields = {f"LOVEBANK_{name.upper()}" for name in Settings.model_fields}
    assert names <= fields, names - fields
    assert {"LOVEBANK_PUBLIC_URL", "LOVEBANK_TIMEZONE", "LOVEBANK_TELEGRAM_MAX_RATE"} <= names
    settings = Settings(_env_file=example)  # type: ignore[call-arg]
    assert settings.telegram_token is None and settings.public_url == "https://bank.example.org"


def test_nginx_routes_the_webhooks_and_downloads_only() -> None:
    conf = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    assert re.findall(r"location\s+([^{]+?)\s*\{", conf) == ROUTED
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [example] = re.findall(r"```nginx\n(.*?)```", readme, re.DOTALL)
    assert re.findall(r"location\s+([^{]+?)\s*\{", example) == ROUTED


class Healthz(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ok = self.path == "/healthz"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


def health_commands() -> dict[str, list[str]]:
    docker = re.search(r"^HEALTHCHECK CMD (.+)$", (ROOT / "Dockerfile").read_text(encoding="utf-8"), re.MULTILINE)
    assert docker is not None
    compose_test = bots()["bot1"]["healthcheck"]["test"]
    assert compose_test[0] == "CMD"
    return {"Dockerfile": shlex.split(docker[1]), "compose": compose_test[1:]}


@pytest.mark.parametrize("where", ["Dockerfile", "compose"])
def test_the_health_check_uses_the_configured_port(where: str) -> None:
    command = health_commands()[where]
    assert command[0] == "python"
    server = ThreadingHTTPServer(("127.0.0.1", 0), Healthz)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        run = [sys.executable, *command[1:]]
        assert (
            subprocess.run(run, env={"LOVEBANK_HTTP_PORT": str(port)}, capture_output=True, check=False).returncode == 0
        )
    finally:
        server.shutdown()
        server.server_close()
    assert subprocess.run(run, env={"LOVEBANK_HTTP_PORT": str(port)}, capture_output=True, check=False).returncode != 0
