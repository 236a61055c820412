"""Where recordings are kept: a local directory by default (on Modal, the mounted Volume).

Files are named by channel and conversation (`twilio/CA....wav`). All file work runs in a worker
thread: never on the event loop that carries the calls' audio.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class LocalRecordingStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, channel: str, external_id: str) -> Path:
        """Channel and id come from the outside (a CallSid): nothing in them may leave the folder."""
        return self.root / _SAFE.sub("_", channel) / f"{_SAFE.sub('_', external_id)}.wav"

    async def save(self, channel: str, external_id: str, wav: bytes) -> Path:
        path = self.path_for(channel, external_id)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part")
            partial.write_bytes(wav)
            partial.replace(path)  # a reader never sees half a file

        await asyncio.to_thread(write)
        return path

    async def find(self, channel: str, external_id: str) -> Path | None:
        path = self.path_for(channel, external_id)
        return path if await asyncio.to_thread(path.is_file) else None

    async def delete_older_than(self, days: float) -> int:
        """Retention: remove recordings last written more than `days` ago; returns how many."""
        cutoff = time.time() - days * 86400

        def sweep() -> int:
            removed = 0
            for path in self.root.glob("*/*.wav"):
                if path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
                    removed += 1
            return removed

        removed = await asyncio.to_thread(sweep)
        if removed:
            log.info("retention: removed %d recordings older than %g days", removed, days)
        return removed
