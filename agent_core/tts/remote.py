"""Text-to-speech on a Parley TTS service (a Modal GPU class or `parley services serve`).

Audio chunks are played as they arrive. When the caller barges in, the request
is cancelled on the service (a GPU stops speaking to nobody) and the connection
is drained in the background before it is reused.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncGenerator
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from agent_core.audio.frames import AudioFrame
from agent_core.errors import ProviderError
from agent_core.remote.connections import ConnectionPool, ServiceEndpoint, ServiceUnavailable
from agent_core.tts.base import SpeechStyle, TextToSpeech, UnknownVoiceError, UnsupportedStyleError, VoiceInfo
from agent_core.tts.styles import layered

log = logging.getLogger(__name__)


class RemoteTts(TextToSpeech):
    name = "remote-tts"

    def __init__(self, endpoint: ServiceEndpoint, *, base_url: str, style: SpeechStyle | None = None) -> None:
        self.endpoint = endpoint
        self.base_url = base_url.rstrip("/")
        self.style = style
        self.pool = ConnectionPool(endpoint)
        self._voices: list[str] = []
        self._details: dict[str, VoiceInfo] = {}  # the service's registry: each voice's default style and knobs
        self._tasks: set[asyncio.Task[None]] = set()

    def voice_names(self) -> list[str]:
        return list(self._voices)

    async def load(self) -> None:
        # The service may be cold (a GPU container starting): say so, but keep the platform up.
        try:
            await self._read_library()
            await self.pool.warm()
        except (ServiceUnavailable, ProviderError) as exc:
            log.warning("TTS service not reachable yet: %s", exc)

    async def refresh_voices(self) -> None:
        try:
            await self._read_library()
        except (ServiceUnavailable, ProviderError) as exc:
            log.warning("TTS voice library not reachable: %s", exc)

    def describe_voice(self, name: str) -> VoiceInfo:
        return self._details.get(name) or super().describe_voice(name)

    async def _read_library(self) -> None:
        library = await self._http("GET", "/v1/voices")  # with the namespaced clones, unlike /health
        self._voices = list(library.get("voices", []))
        self.can_clone = bool(library.get("can_clone", False))
        details = [VoiceInfo.model_validate(d) for d in library.get("details", [])]
        self._details = {d.name: d for d in details}
        if details:  # knobs belong to the engine behind the service, the same for each of its voices
            self.style_knobs = tuple(details[0].knobs)

    async def clone_voice(self, name: str, wav_bytes: bytes, *, namespace: str | None = None) -> str:
        form = {"name": name} | ({"namespace": namespace} if namespace else {})
        result = await self._http("POST", "/v1/voices", files={"file": (f"{name}.wav", wav_bytes, "audio/wav")},
                                  data=form)
        self._voices = sorted(set(self._voices) | {result["name"]})
        return str(result["name"])

    async def synthesize(
        self, text: str, *, voice: str | None = None, style: SpeechStyle | None = None
    ) -> AsyncGenerator[AudioFrame, None]:
        request_id = uuid.uuid4().hex[:16]
        request: dict[str, Any] = {"type": "speak", "id": request_id, "text": text, "voice": voice}
        if merged := layered(self.style, style):  # the configured speed under the caller's style
            request["style"] = merged.model_dump(exclude_none=True)
        started = False
        for attempt in (1, 2):  # one retry, only while nothing has been played
            try:
                conn = await self.pool.acquire()
            except ServiceUnavailable as exc:
                raise ProviderError("tts", exc) from exc
            finished = False
            try:
                await conn.send(json.dumps(request))
                async for frame in self._receive(conn, request_id):
                    started = True
                    yield frame
                finished = True
                self.pool.release(conn)
                return
            except ConnectionClosed as exc:
                finished = True
                self.pool.discard(conn)
                if started or attempt == 2:
                    raise ProviderError("tts", f"connection lost: {exc}") from exc
                log.warning("TTS connection dropped before any audio (%s); retrying", exc)
            except (ProviderError, UnknownVoiceError, UnsupportedStyleError):
                finished = True
                self.pool.release(conn)  # the service answered "error" cleanly: the connection is fine
                raise
            except TimeoutError as exc:
                finished = True
                self.pool.discard(conn)
                raise ProviderError("tts", f"no audio from the service in {self.endpoint.read_timeout_s:g} s") from exc
            finally:
                if not finished:  # the listener stopped early (barge-in): stop the service too
                    self._cancel_in_background(conn, request_id)

    async def _receive(self, conn: ClientConnection, request_id: str) -> AsyncGenerator[AudioFrame, None]:
        sample_rate = 0
        while True:
            raw = await asyncio.wait_for(conn.recv(), self.endpoint.read_timeout_s)
            if isinstance(raw, bytes):
                if sample_rate:
                    yield AudioFrame(raw, sample_rate)
                continue
            message = json.loads(raw)
            if message.get("id") != request_id:
                continue
            kind = message.get("type")
            if kind == "start":
                sample_rate = int(message["sample_rate"])
            elif kind == "done":
                return
            elif kind == "error" and message.get("code") == "unknown_voice":
                raise UnknownVoiceError(message.get("voice", ""), self.name, list(message.get("voices", [])))
            elif kind == "error" and message.get("code") == "unsupported_style":
                raise UnsupportedStyleError(message.get("message", ""))  # the caller's mistake, as in-process
            elif kind == "error":
                raise ProviderError("tts", f"service error: {message.get('message')}")

    def _cancel_in_background(self, conn: ClientConnection, request_id: str) -> None:
        async def cancel() -> None:
            try:
                await conn.send(json.dumps({"type": "cancel", "id": request_id}))
                async with asyncio.timeout(self.endpoint.read_timeout_s):
                    async for _ in self._receive(conn, request_id):
                        pass  # audio nobody will hear, until the service confirms "done"
            except Exception:
                self.pool.discard(conn)
            else:
                self.pool.release(conn)

        task = asyncio.get_running_loop().create_task(cancel())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _http(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        ep = self.endpoint
        timeout = httpx.Timeout(ep.read_timeout_s, connect=ep.connect_timeout_s)
        try:
            async with httpx.AsyncClient(timeout=timeout, headers=ep.headers) as client:
                response = await client.request(method, self.base_url + path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"cannot reach {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise ProviderError("tts", f"{method} {path}: HTTP {response.status_code} {response.text[:200]}")
        body: dict[str, Any] = response.json()
        return body

    async def aclose(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pool.aclose()
