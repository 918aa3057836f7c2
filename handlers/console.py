"""The console chat: one line in, replies out, options as a numbered list. Scriptable:
`printf '/balance\\n' | lovebank chat --as volunteer1`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from bot.dialogs.core import Caller, Input
from bot.dialogs.engine import Dialogs
from bot.kernel.i18n import render
from bot.services import Services


def _save_files(replies: list) -> list[Path]:
    saved = []
    for r in replies:
        for name, content in (
            (r.document.filename, r.document.content) if r.document else (None, None),
            ("chart.png", r.image) if r.image else (None, None),
        ):
            if name and content:
                path = _unique(Path(Path(name).name))  # never outside the working directory
                path.write_bytes(content)
                saved.append(path)
    return saved


def _unique(path: Path) -> Path:
    """A file name not yet taken: a second chart is chart-2.png, never written over the first."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return candidate


async def chat(services: Services, handle: str, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout  # the streams of the moment, not of the import
    dialogs = Dialogs(services)
    caller = Caller("console", handle, display_name=handle, handle=handle)
    interactive = stdin.isatty()

    def say(text: str) -> None:
        print(text, file=stdout, flush=True)

    # Who am I, and what happened while I was away (notifications wait for the next visit).
    person, _ = await services.run(services.people.identify, "console", handle, display_name=handle, handle=handle)
    for delivery in await services.run(services.outbox.take, "console", person_id=person.id):
        say("🔔 " + render(delivery.locale, delivery.text.key, delivery.text.params))
    if interactive:
        say(render(person.locale, "console.hello", {"name": person.display_name}))
    while True:
        if interactive:
            print("> ", end="", file=stdout, flush=True)
        line = stdin.readline()
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        if line in ("/quit", "/exit"):
            break
        turn = await dialogs.handle(caller, Input(text=line, request_key=None))
        for text in dialogs.render(turn.locale, turn.replies):
            say(text)
        for saved in _save_files(turn.replies):  # a terminal cannot show a file: save it here
            say(f"📎 {saved}")
        for delivery in await services.run(services.outbox.take, "console", person_id=turn.person_id):
            say("🔔 " + render(delivery.locale, delivery.text.key, delivery.text.params))
        say("")
