"""Where recordings are kept: a local directory by default (on Modal, the mounted Volume), or an
S3-compatible bucket (`agent_core/storage/bucket.py`), chosen by `settings.recording.store`.

Files are named by channel and conversation (`phone/CA....wav`). All file and network work runs
in a worker thread: never on the event loop that carries the calls' audio.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from agent_core.settings import Settings

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
CHUNK_BYTES = 256 * 1024
MEDIA_TYPES = {".wav": "audio/wav", ".ogg": "audio/ogg"}
STORE_SCHEMES = ("s3", "file")


class RecordingStoreError(OSError):
    """A store that cannot be reached or refuses (a bucket that is down, or denies access)."""


def key_for(channel: str, external_id: str) -> str:
    """Channel and id come from the outside (a CallSid): nothing in them may leave the store's folder."""
    return f"{_SAFE.sub('_', channel)}/{_SAFE.sub('_', external_id)}.wav"


def media_type_of(name: str) -> str:
    return MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")


@dataclass
class RecordingDownload:
    """A stored recording, ready to stream: `path` where it is a local file (served with ranges)."""

    filename: str
    media_type: str
    size: int
    chunks: AsyncIterator[bytes]
    path: Path | None = None


class RecordingStore(Protocol):
    # Where recordings go, for logs: a directory, or s3://bucket/prefix (never a credential).
    location: str

    async def check(self) -> None:
        """Raise RecordingStoreError if the store is not usable as configured (e.g. no such bucket)."""

    async def save(self, channel: str, external_id: str, wav: bytes) -> str:
        """Store a recording, replacing any earlier one; returns its key (`phone/CA....wav`)."""

    async def exists(self, channel: str, external_id: str) -> bool: ...

    async def open(self, channel: str, external_id: str) -> RecordingDownload | None:
        """The recording as a stream of chunks; None when there is none."""

    def local_copy(self, channel: str, external_id: str) -> AbstractAsyncContextManager[Path | None]:
        """The recording as a file on this machine while the context lasts (a job reads it whole)."""

    async def delete_older_than(self, days: float) -> int:
        """Retention: remove recordings last written more than `days` ago; returns how many."""


class LocalRecordingStore:
    def __init__(self, root: Path, *, now: Callable[[], float] = time.time) -> None:
        self.root = Path(root)
        self.location = str(self.root)
        self._now = now

    def path_for(self, channel: str, external_id: str) -> Path:
        return self.root / key_for(channel, external_id)

    async def check(self) -> None:
        return None  # the directory is made with the first recording

    async def save(self, channel: str, external_id: str, wav: bytes) -> str:
        path = self.path_for(channel, external_id)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part")
            partial.write_bytes(wav)
            partial.replace(path)  # a reader never sees half a file

        await asyncio.to_thread(write)
        return key_for(channel, external_id)

    async def find(self, channel: str, external_id: str) -> Path | None:
        path = self.path_for(channel, external_id)
        return path if await asyncio.to_thread(path.is_file) else None

    async def exists(self, channel: str, external_id: str) -> bool:
        return await self.find(channel, external_id) is not None

    async def open(self, channel: str, external_id: str) -> RecordingDownload | None:
        path = self.path_for(channel, external_id)
        try:
            size = (await asyncio.to_thread(path.stat)).st_size
        except FileNotFoundError:
            return None
        return RecordingDownload(path.name, media_type_of(path.name), size, _file_chunks(path), path)

    @asynccontextmanager
    async def local_copy(self, channel: str, external_id: str) -> AsyncIterator[Path | None]:
        yield await self.find(channel, external_id)

    async def delete_older_than(self, days: float) -> int:
        cutoff = self._now() - days * 86400

        def sweep() -> int:
            removed = 0
            for path in self.root.glob("*/*.wav"):
                if path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
                    removed += 1
            return removed

        removed = await asyncio.to_thread(sweep)
        if removed:
            log.info("retention: removed %d recordings older than %g days from %s", removed, days, self.location)
        return removed


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


def check_store_url(url: str) -> str:
    """A recording store URL as settings accept it, or ValueError saying which forms there are."""
    parts = urlsplit(url)
    forms = "s3://bucket/prefix for an S3-compatible bucket, or file:///absolute/path for a local directory"
    if not parts.scheme:
        raise ValueError(f"recording store {url!r} is not a URL; use {forms} (or set a local path as directory)")
    if parts.scheme not in STORE_SCHEMES:
        raise ValueError(f"recording store {url!r}: unknown scheme {parts.scheme!r}; use {forms}")
    if parts.scheme == "s3" and not parts.netloc:
        raise ValueError(f"recording store {url!r} names no bucket; use {forms}")
    if parts.scheme == "file" and (parts.netloc not in ("", "localhost") or not parts.path.startswith("/")):
        raise ValueError(f"recording store {url!r} is not an absolute local path; use {forms}")
    return url


def recording_store(settings: Settings) -> RecordingStore:
    """The store `settings.recording.store` names (unset: the local recordings directory)."""
    url = settings.recording.store
    if url is None:
        return LocalRecordingStore(settings.recordings_dir)
    parts = urlsplit(check_store_url(url))
    if parts.scheme == "file":
        return LocalRecordingStore(Path(unquote(parts.path)))
    from agent_core.storage.bucket import S3RecordingStore

    return S3RecordingStore.from_settings(parts.netloc, unquote(parts.path), settings.recording)
