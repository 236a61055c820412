"""Text-to-speech routes: the streaming WebSocket the agent core speaks, and voices (OpenAI's speech
route is speech_routes.py).

The service wraps any `TextToSpeech`: Chatterbox on a GPU, or the embedded
voice under `parley services serve`. Audio goes out chunk by chunk as the
engine makes it; a cancel stops the engine, not only the sending.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import aclosing, suppress
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile, WebSocket
from pydantic import ValidationError

from agent_core.audio.voice_clip import MAX_UPLOAD_BYTES, VoiceClipError, prepare_voice_clip, validate_clip_name
from agent_core.remote.protocol import TTS_PATH, TtsRequest, TtsSpeak, message_id
from agent_core.tts.base import TextToSpeech, UnknownVoiceError, UnsupportedStyleError, visible_voices
from modal_services.service.audio_stream import pcm_stream
from modal_services.service.auth import ServiceAuth
from modal_services.service.voice_aliases import VoiceAliases

log = logging.getLogger(__name__)


def tts_router(tts: TextToSpeech, auth: ServiceAuth, aliases: VoiceAliases) -> APIRouter:
    router = APIRouter()

    @router.websocket(TTS_PATH)
    async def stream(websocket: WebSocket) -> None:
        if await auth.accept(websocket):
            await _TtsConnection(tts, websocket, aliases).run()

    @router.get("/v1/voices", dependencies=[Depends(auth.check_request)])
    async def voices(namespace: str | None = None) -> dict[str, Any]:
        """Every voice for the platform holding the token; with `namespace`, what that namespace may use."""
        names = tts.voice_names() if namespace is None else visible_voices(tts.voice_names(), namespace)
        return {"voices": names, "can_clone": tts.can_clone, "aliases": aliases.aliases,
                "details": [tts.describe_voice(name).model_dump() for name in names]}

    @router.post("/v1/voices", dependencies=[Depends(auth.check_request)])
    async def clone(
        name: Annotated[str, Form()], file: Annotated[UploadFile, File()], namespace: Annotated[str | None, Form()] = None
    ) -> dict[str, Any]:
        """Clone a voice from a clip; with a namespace (a guild) only that namespace sees and uses it."""
        if not tts.can_clone:
            raise HTTPException(501, f"{tts.name} cannot clone voices")
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        try:
            validate_clip_name(name)
            if namespace is not None:
                validate_clip_name(namespace)
            wav = await asyncio.to_thread(prepare_voice_clip, data, file.filename or f"{name}.wav")
        except VoiceClipError as exc:
            raise HTTPException(400, str(exc)) from exc
        return {"name": await tts.clone_voice(name, wav, namespace=namespace)}

    return router


class _TtsConnection:
    def __init__(self, tts: TextToSpeech, websocket: WebSocket, aliases: VoiceAliases) -> None:
        self.tts, self.ws, self.aliases = tts, websocket, aliases
        self.send_lock = asyncio.Lock()
        self.current: tuple[str, asyncio.Task[None]] | None = None

    async def run(self) -> None:
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("text") is None:
                    await self._send({"type": "error", "id": None, "message": "send JSON text messages only"})  # no id to read
                    continue
                await self._control(message["text"])
        finally:
            if self.current is not None:
                self.current[1].cancel()

    async def _control(self, text: str) -> None:
        try:
            request = TtsRequest.validate_json(text)
        except ValidationError as exc:
            # The id, when the message has one, lets the client stop waiting for that request.
            await self._send({"type": "error", "id": message_id(text), "message": f"bad message: {exc.errors()[0]['msg']}"})
            return
        busy = self.current is not None and not self.current[1].done()
        if isinstance(request, TtsSpeak):
            if busy:
                await self._send({"type": "error", "id": request.id, "message": "one request at a time per connection"})
                return
            self.current = (request.id, asyncio.create_task(self._speak(request)))
        elif busy and self.current and self.current[0] == request.id:
            self.current[1].cancel()

    async def _speak(self, request: TtsSpeak) -> None:
        started = False
        try:
            voice = self.aliases.resolve(request.voice)  # the same names as the speech API
            frames = pcm_stream(self.tts.synthesize(request.text, voice=voice, style=request.style),
                                 request.sample_rate)
            async with aclosing(frames):
                async for frame in frames:
                    if not started:
                        started = True
                        await self._send({"type": "start", "id": request.id, "sample_rate": frame.sample_rate})
                    async with self.send_lock:
                        await self.ws.send_bytes(frame.pcm)
        except asyncio.CancelledError:
            with suppress(Exception):  # the client may be gone already
                await self._send({"type": "done", "id": request.id, "cancelled": True})
            return
        except UnknownVoiceError as exc:
            await self._send({"type": "error", "id": request.id, "code": "unknown_voice", "message": str(exc),
                              "voice": exc.voice, "voices": exc.known})
            return
        except UnsupportedStyleError as exc:
            await self._send({"type": "error", "id": request.id, "code": "unsupported_style", "message": str(exc)})
            return
        except Exception as exc:
            log.warning("TTS failed for request %s: %s", request.id, exc)
            await self._send({"type": "error", "id": request.id, "message": f"synthesis failed: {exc}"})
            return
        await self._send({"type": "done", "id": request.id, "cancelled": False})

    async def _send(self, message: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.ws.send_text(json.dumps(message))
