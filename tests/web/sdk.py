"""The official `openai` SDK's Realtime client pointed at a local Parley, and a strict event reader.

Every server event is validated against the SDK's own pydantic types (the SDK itself only
constructs them unchecked), so a missing or mistyped field fails the test that received it.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from openai import AsyncOpenAI
from openai.resources.realtime.realtime import AsyncRealtimeConnection
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from agent_core.audio.frames import AudioFrame
from agent_core.audio.resample import resample

SERVER_EVENT: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)


@asynccontextmanager
async def sdk_connection(url: str, api_key: str = "sk-local") -> AsyncIterator[AsyncRealtimeConnection]:
    """Only `websocket_base_url` points the SDK at Parley; everything else is the SDK's default."""
    client = AsyncOpenAI(api_key=api_key, websocket_base_url=url.replace("http://", "ws://") + "/v1")
    async with client.realtime.connect(model="gpt-realtime") as connection:
        yield connection


class EventLog:
    """Everything the client received, in order, read strictly."""

    def __init__(self, connection: AsyncRealtimeConnection) -> None:
        self.connection = connection
        self.events: list[Any] = []

    async def until(self, kind: str, count: int = 1, timeout_s: float = 30.0) -> list[Any]:
        """Read until `count` events of `kind` have arrived (counting those already read)."""
        async with asyncio.timeout(timeout_s):  # a guard against hanging, not a measurement
            while len(self.of(kind)) < count:
                self.events.append(SERVER_EVENT.validate_json(await self.connection.recv_bytes()))
        return self.of(kind)

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.events if e.type == kind]

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    def audio(self, response_id: str | None = None) -> bytes:
        return b"".join(base64.b64decode(e.delta) for e in self.of("response.output_audio.delta")
                        if response_id is None or e.response_id == response_id)


async def speak(connection: AsyncRealtimeConnection, audio: AudioFrame, *, silence_s: float = 1.0,
                rate: int = 24000, encode=lambda frame: frame.pcm) -> None:
    """Stream speech then silence in 40 ms appends, as a microphone would (without waiting)."""
    pcm = resample(audio, rate) + AudioFrame.silence(silence_s, rate)
    for piece in pcm.split(0.04):
        await connection.input_audio_buffer.append(audio=base64.b64encode(encode(piece)).decode())
