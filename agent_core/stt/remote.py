"""Speech-to-text on a Parley STT service (a Modal GPU class or `parley services serve`).

Audio streams to the service while the caller speaks, so the transcript is
ready moments after they stop. Every utterance keeps its audio until the final
transcript arrives: if the connection drops mid-utterance, a new one replays
it, and nothing the caller said is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from contextlib import suppress

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from agent_core.audio.frames import AudioFrame
from agent_core.errors import ProviderError
from agent_core.remote.connections import ConnectionPool, ServiceEndpoint, ServiceUnavailable
from agent_core.stt.base import STT_SAMPLE_RATE, SpeechToText, SttStream

log = logging.getLogger(__name__)
RECONNECTS = 2  # per utterance, after the first connection drops


class RemoteStt(SpeechToText):
    name = "remote-stt"

    def __init__(self, endpoint: ServiceEndpoint, *, language: str = "en") -> None:
        self.endpoint = endpoint
        self.language = language
        self.pool = ConnectionPool(endpoint)

    async def load(self) -> None:
        # The service may be cold (a GPU container starting): say so, but keep the platform up.
        try:
            await self.pool.warm()
        except ServiceUnavailable as exc:
            log.warning("STT service not reachable yet: %s", exc)

    def open_stream(self, *, language: str | None = None) -> SttStream:
        return _RemoteSttStream(self, language or self.language)

    async def aclose(self) -> None:
        await self.pool.aclose()


class _RemoteSttStream(SttStream):
    def __init__(self, owner: RemoteStt, language: str) -> None:
        super().__init__()
        self._pool = owner.pool
        self._read_timeout_s = owner.endpoint.read_timeout_s
        self._id = uuid.uuid4().hex[:16]
        start = {"type": "start", "id": self._id, "sample_rate": STT_SAMPLE_RATE, "language": language}
        # Everything sent for this utterance, in order: replayed on a fresh connection after a drop.
        self._items: list[bytes | str] = [json.dumps(start)]
        self._more = asyncio.Event()
        self._final: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run())

    def push(self, frame: AudioFrame) -> None:
        if frame.sample_rate != STT_SAMPLE_RATE:
            raise ValueError(f"remote STT streams {STT_SAMPLE_RATE} Hz audio, got {frame.sample_rate} Hz")
        self._send(frame.pcm)

    def speaker_paused(self) -> None:
        self._send(json.dumps({"type": "pause", "id": self._id}))

    async def finish(self) -> str:
        self._send(json.dumps({"type": "finish", "id": self._id}))
        try:
            return await asyncio.wait_for(asyncio.shield(self._final), self._read_timeout_s)
        except TimeoutError:
            raise ProviderError("stt", f"no final transcript from the service in {self._read_timeout_s:g} s") from None

    async def aclose(self) -> None:
        if not self._task.done():
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    def _send(self, item: bytes | str) -> None:
        self._items.append(item)
        self._more.set()

    async def _run(self) -> None:
        error: Exception | None = None
        for _ in range(1 + RECONNECTS):
            try:
                conn = await self._pool.acquire()
            except ServiceUnavailable as exc:
                error = exc
                break
            try:
                text = await self._talk(conn)
            except ConnectionClosed as exc:
                self._pool.discard(conn)
                log.warning("STT connection dropped mid-utterance (%s); replaying on a new one", exc)
                error = exc
                continue
            except asyncio.CancelledError:  # the Session abandoned the utterance
                await self._cancel(conn)
                raise
            except Exception as exc:
                self._pool.discard(conn)
                error = exc
                break
            self._pool.release(conn)
            if not self._final.done():
                self._final.set_result(text)
            return
        if not self._final.done():
            cause = error.args[0] if isinstance(error, ProviderError) else error
            self._final.set_exception(ProviderError("stt", cause or "connection lost"))

    async def _talk(self, conn: ClientConnection) -> str:
        """Send the whole utterance (again, after a reconnect) while reading what comes back."""
        sender = asyncio.create_task(self._send_all(conn))
        try:
            async for raw in conn:
                if isinstance(raw, bytes):
                    continue
                message = json.loads(raw)
                if message.get("id") != self._id:
                    continue  # the tail of a cancelled utterance that used this connection before
                kind = message.get("type")
                if kind == "partial":
                    self.heard_partial(message["text"])
                elif kind == "pause_probability":
                    self.predicts_pauses = True
                    if self.on_pause_probability is not None:
                        self.on_pause_probability(float(message["value"]))
                elif kind == "final":
                    return str(message["text"])
                elif kind == "error":
                    raise ProviderError("stt", f"service error: {message.get('message')}")
            raise ConnectionClosed(None, None)
        finally:
            sender.cancel()
            with suppress(asyncio.CancelledError, ConnectionClosed):
                await sender

    async def _send_all(self, conn: ClientConnection) -> None:
        sent = 0
        while True:
            while sent < len(self._items):
                await conn.send(self._items[sent])
                sent += 1
            self._more.clear()
            await self._more.wait()

    async def _cancel(self, conn: ClientConnection) -> None:
        try:
            await asyncio.wait_for(conn.send(json.dumps({"type": "cancel", "id": self._id})), 1.0)
        except Exception:
            self._pool.discard(conn)
        else:
            self._pool.release(conn)  # later messages for this id are skipped by the next user
