"""A minimal raw Realtime API client over `websockets`: for what the SDK cannot send (broken JSON,
unknown events) and for the beta protocol (`OpenAI-Beta: realtime=v1`). It knows nothing of Parley
beyond the URL."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import numpy as np
from websockets.asyncio.client import connect

from agent_core.audio.frames import AudioFrame
from agent_core.audio.resample import resample


class RealtimeClient:
    def __init__(self, url: str, api_key: str | None = None, *, beta: bool = False) -> None:
        self.url, self.api_key, self.beta = url, api_key, beta
        self.events: list[dict[str, Any]] = []
        self.audio = bytearray()  # response.output_audio.delta (beta: response.audio.delta), concatenated
        self._new = asyncio.Event()

    async def __aenter__(self) -> RealtimeClient:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        if self.beta:
            headers["OpenAI-Beta"] = "realtime=v1"
        self.ws = await connect(self.url, additional_headers=headers, max_queue=None)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()
        self._reader.cancel()

    async def _read(self) -> None:
        async for raw in self.ws:
            event = json.loads(raw)
            self.events.append(event)
            if event["type"] in ("response.output_audio.delta", "response.audio.delta"):
                self.audio += base64.b64decode(event["delta"])
            self._new.set()

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def speak(self, audio: AudioFrame, *, silence_s: float = 0.8, realtime: bool = True) -> None:
        """Stream pcm16 24 kHz in 40 ms appends, as a microphone would."""
        pcm24 = resample(audio, 24000) + AudioFrame.silence(silence_s, 24000)
        for piece in pcm24.split(0.04):
            await self.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(piece.pcm).decode()})
            await asyncio.sleep(0.04 if realtime else 0)

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 15.0) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]]:
            while len(found := [e for e in self.events if e["type"] == kind]) < count:
                self._new.clear()
                await self._new.wait()
            return found

        return await asyncio.wait_for(enough(), timeout)

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def heard(self) -> np.ndarray:
        return np.frombuffer(bytes(self.audio), np.int16)
