"""Recordings in an S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, Ceph, ...), through boto3.

boto3 is blocking: every call runs in a worker thread, never on the event loop that carries the
calls' audio. Its clients are thread-safe, so one client serves all threads. Keys are the local
store's file names under the URL's prefix: `s3://bucket/calls` keeps `calls/phone/CA....wav`.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from agent_core.storage.recordings import (
    CHUNK_BYTES,
    RecordingDownload,
    RecordingStoreError,
    key_for,
    media_type_of,
)

if TYPE_CHECKING:
    from agent_core.settings import RecordingSettings

log = logging.getLogger(__name__)

# One DeleteObjects request removes at most this many keys (the S3 API's limit).
DELETE_BATCH = 1000
_MISSING = {"404", "NoSuchKey", "NotFound"}


def _boto3() -> Any:
    try:
        import boto3
    except ImportError as exc:  # the optional extra: say how to get it rather than fall back to disk
        raise RuntimeError("an s3:// recording store needs boto3: pip install 'parley[s3]'") from exc
    return boto3


def _missing(exc: BaseException | None) -> bool:
    """A ClientError saying the key is not there (HEAD answers a bare 404)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "")) in _MISSING


@contextmanager
def _store_errors(what: str) -> Iterator[None]:
    """boto3's and botocore's errors as RecordingStoreError (an OSError), which callers already handle."""
    from boto3.exceptions import Boto3Error  # e.g. S3UploadFailedError from the transfer manager
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (Boto3Error, BotoCoreError, ClientError) as exc:
        raise RecordingStoreError(f"{what}: {exc}") from exc


class S3RecordingStore:
    def __init__(self, bucket: str, prefix: str = "", *, client_options: dict[str, Any] | None = None,
                 now: Callable[[], float] = time.time) -> None:
        _boto3()  # at start, not with the first call's recording
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.location = f"s3://{bucket}/{self.prefix}"
        self._client_options = client_options or {}
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._now = now

    @classmethod
    def from_settings(cls, bucket: str, prefix: str, recording: RecordingSettings) -> S3RecordingStore:
        options: dict[str, Any] = {}
        if recording.s3_endpoint_url:
            options["endpoint_url"] = recording.s3_endpoint_url
        if recording.s3_region:
            options["region_name"] = recording.s3_region
        if recording.s3_access_key_id and recording.s3_secret_access_key:
            options["aws_access_key_id"] = recording.s3_access_key_id.get_secret_value()
            options["aws_secret_access_key"] = recording.s3_secret_access_key.get_secret_value()
        return cls(bucket, prefix, client_options=options)

    def __repr__(self) -> str:  # never the client options: they hold the secret key
        return f"S3RecordingStore({self.location!r})"

    def _s3(self) -> Any:
        """The client, made on first use in a worker thread (making one reads boto3's models from disk)."""
        with self._client_lock:
            if self._client is None:
                from botocore.config import Config

                config = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=30)
                self._client = _boto3().session.Session().client("s3", config=config, **self._client_options)
            return self._client

    def key(self, channel: str, external_id: str) -> str:
        return self.prefix + key_for(channel, external_id)

    async def check(self) -> None:
        def head() -> None:
            with _store_errors(f"recording bucket {self.bucket!r} is not usable"):
                self._s3().head_bucket(Bucket=self.bucket)

        await asyncio.to_thread(head)

    async def save(self, channel: str, external_id: str, wav: bytes) -> str:
        key = self.key(channel, external_id)

        def upload() -> None:
            import io

            with _store_errors(f"storing {self.location}{key_for(channel, external_id)}"):
                # upload_fileobj goes multipart for large files (a long call is hundreds of MB).
                self._s3().upload_fileobj(io.BytesIO(wav), self.bucket, key,
                                          ExtraArgs={"ContentType": media_type_of(key)})

        await asyncio.to_thread(upload)
        return key_for(channel, external_id)

    async def exists(self, channel: str, external_id: str) -> bool:
        key = self.key(channel, external_id)

        def head() -> bool:
            try:
                with _store_errors(f"looking up {self.location}{key_for(channel, external_id)}"):
                    self._s3().head_object(Bucket=self.bucket, Key=key)
            except RecordingStoreError as exc:
                if _missing(exc.__cause__):
                    return False  # no such recording: not an error
                raise
            return True

        return await asyncio.to_thread(head)

    async def open(self, channel: str, external_id: str) -> RecordingDownload | None:
        key = self.key(channel, external_id)

        def get() -> dict[str, Any] | None:
            try:
                with _store_errors(f"reading {self.location}{key_for(channel, external_id)}"):
                    return cast(dict[str, Any], self._s3().get_object(Bucket=self.bucket, Key=key))
            except RecordingStoreError as exc:
                if _missing(exc.__cause__):
                    return None
                raise

        found = await asyncio.to_thread(get)
        if found is None:
            return None
        name = key.rsplit("/", 1)[-1]
        media_type = found.get("ContentType") or media_type_of(name)
        return RecordingDownload(name, media_type, int(found["ContentLength"]), _body_chunks(found["Body"]))

    @asynccontextmanager
    async def local_copy(self, channel: str, external_id: str) -> AsyncIterator[Path | None]:
        if not await self.exists(channel, external_id):
            yield None
            return
        with tempfile.TemporaryDirectory(prefix="parley-recording-") as folder:
            path = Path(folder) / key_for(channel, external_id).replace("/", "-")

            def download() -> None:
                with _store_errors(f"fetching {self.location}{key_for(channel, external_id)}"):
                    self._s3().download_file(self.bucket, self.key(channel, external_id), str(path))

            await asyncio.to_thread(download)
            yield path

    async def delete_older_than(self, days: float) -> int:
        cutoff = self._now() - days * 86400

        def sweep() -> int:
            with _store_errors(f"retention sweep of {self.location}"):
                old = [item["Key"] for page in self._s3().get_paginator("list_objects_v2")
                       .paginate(Bucket=self.bucket, Prefix=self.prefix)
                       for item in page.get("Contents", [])
                       if _is_recording(item["Key"][len(self.prefix):]) and item["LastModified"].timestamp() < cutoff]
                for start in range(0, len(old), DELETE_BATCH):
                    batch = [{"Key": key} for key in old[start:start + DELETE_BATCH]]
                    answer = self._s3().delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                    if answer.get("Errors"):
                        first = answer["Errors"][0]
                        raise RecordingStoreError(f"retention sweep of {self.location}: {len(answer['Errors'])} "
                                                  f"deletions refused, e.g. {first.get('Key')}: {first.get('Message')}")
            return len(old)

        removed = await asyncio.to_thread(sweep)
        if removed:
            log.info("retention: removed %d recordings older than %g days from %s", removed, days, self.location)
        return removed


def _is_recording(relative_key: str) -> bool:
    """What the store itself writes, `channel/id.wav`: anything else under the prefix is left alone."""
    parts = relative_key.split("/")
    return len(parts) == 2 and all(parts) and parts[1].endswith(".wav")


async def _body_chunks(body: Any) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(body.read, CHUNK_BYTES):
            yield chunk
    finally:
        await asyncio.to_thread(body.close)
