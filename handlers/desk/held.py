"""Uploads held between a preview and its confirmation (the roster import): the file stays on the
server, the page only carries a random token. What is kept is bound to the person and community
that uploaded it, readable by this user only, and gone after HOLD or once applied. A folder of
files, not memory, so every process of `lovebank serve` on the machine finds it."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HOLD = 30 * 60  # seconds an upload waits for its confirmation
TOKEN_MAX = 64


@dataclass(frozen=True)
class Upload:
    filename: str
    content: bytes


class Held:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or Path(tempfile.gettempdir()) / f"lovebank-desk-{os.getuid()}"

    def _path(self, token: str) -> Path:
        return self.folder / hashlib.sha256(token.encode()).hexdigest()  # the token never names a file

    def put(self, person_id: int, community_id: int, filename: str, content: bytes) -> str:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._sweep()
        token = secrets.token_urlsafe(24)
        meta = json.dumps({"person": person_id, "community": community_id, "filename": filename[:200]}).encode()
        path = self._path(token)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(len(meta).to_bytes(4, "big") + meta + content)
        return token

    def get(self, token: str, person_id: int, community_id: int) -> Upload | None:
        """The upload behind the token, when it is this person's in this community and not too old."""
        if not token or len(token) > TOKEN_MAX:
            return None
        path = self._path(token)
        try:
            if time.time() - path.stat().st_mtime > HOLD:
                path.unlink(missing_ok=True)
                return None
            data = path.read_bytes()
        except OSError:
            return None
        size = int.from_bytes(data[:4], "big")
        meta = json.loads(data[4 : 4 + size])
        if meta["person"] != person_id or meta["community"] != community_id:
            return None
        return Upload(meta["filename"], data[4 + size :])

    def drop(self, token: str) -> None:
        if token and len(token) <= TOKEN_MAX:
            self._path(token).unlink(missing_ok=True)

    def _sweep(self) -> None:
        now = time.time()
        for path in self.folder.iterdir():
            try:
                if now - path.stat().st_mtime > HOLD:
                    path.unlink(missing_ok=True)
            except OSError:
                continue
