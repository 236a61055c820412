"""Instant, scripted STT/LLM/TTS providers and an in-process channel, for tests, benchmarks
and the demo's one scripted call.

They do no model work, so what a test or benchmark measures is Parley's own
machinery. Each speaks the same seams as the real backends (the LLM one emits
OpenAI chunk dicts), and each can be told to be slow or to fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from typing import Any

import numpy as np

from agent_core.audio.frames import AudioFrame
from agent_core.llm.base import LanguageModel, Message, ToolCall, ToolChoice
from agent_core.session import Session
from agent_core.stt.base import SpeechToText, SttStream
from agent_core.tts.base import SpeechStyle, TextToSpeech


class ScriptedStt(SpeechToText):
    name = "scripted-stt"

    def __init__(self, transcripts: list[str] | None = None, *, delay_s: float = 0.0, error: Exception | None = None):
        self.transcripts = list(transcripts or [])
        self.default = "hello"
        self.delay_s = delay_s
        self.error = error
        self.pushed_seconds: list[float] = []  # audio received per utterance

    def open_stream(self, *, language: str | None = None) -> SttStream:
        return _ScriptedSttStream(self)


class _ScriptedSttStream(SttStream):
    def __init__(self, owner: ScriptedStt) -> None:
        super().__init__()
        self._owner = owner
        self._samples = 0

    def push(self, frame: AudioFrame) -> None:
        self._samples += frame.samples

    async def text_so_far(self) -> str | None:
        """Like Whisper's transcript at a pause: what `finish` will say, if the script has it."""
        owner = self._owner
        if owner.error is not None:
            raise owner.error
        return owner.transcripts[0] if owner.transcripts else owner.default

    async def finish(self) -> str:
        owner = self._owner
        owner.pushed_seconds.append(self._samples / 16000)
        if owner.delay_s:
            await asyncio.sleep(owner.delay_s)
        if owner.error is not None:
            raise owner.error
        return owner.transcripts.pop(0) if owner.transcripts else owner.default


Reply = str | list[str | ToolCall]


class ScriptedLlm(LanguageModel):
    """Replies in order (the last one repeats); a reply is text or a list of pieces and tool calls."""

    name = "scripted-llm"

    def __init__(
        self,
        replies: list[Reply] | Callable[[list[Message]], Reply] | None = None,
        *,
        first_token_delay_s: float = 0.0,
        token_delay_s: float = 0.0,
        error: Exception | None = None,
    ) -> None:
        self.replies = replies if replies is not None else ["The capital of France is Paris."]
        self.first_token_delay_s = first_token_delay_s
        self.token_delay_s = token_delay_s
        self.error = error
        self.requests: list[list[Message]] = []
        self.offered_tools: list[list[dict[str, Any]] | None] = []  # the tools of each request
        self.cancelled = 0

    def _next(self, messages: list[Message]) -> list[str | ToolCall]:
        if callable(self.replies):
            reply = self.replies(messages)
        else:
            reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, str):
            return [word + " " for word in reply.split()]
        return reply

    async def chunks(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, tool_choice: ToolChoice = None
    ) -> AsyncGenerator[dict[str, Any], None]:
        self.requests.append([dict(m) for m in messages])
        self.offered_tools.append(tools)
        try:
            if self.first_token_delay_s:
                await asyncio.sleep(self.first_token_delay_s)
            if self.error is not None:
                raise self.error
            for index, piece in enumerate(self._next(messages)):
                if index and self.token_delay_s:
                    await asyncio.sleep(self.token_delay_s)
                if isinstance(piece, ToolCall):
                    yield _tool_chunk(piece)
                else:
                    yield {"choices": [{"index": 0, "delta": {"content": piece}}]}
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


def _tool_chunk(call: ToolCall) -> dict[str, Any]:
    part = {"index": 0, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
    return {"choices": [{"index": 0, "delta": {"tool_calls": [part]}}]}


class ScriptedTts(TextToSpeech):
    """A quiet tone, `seconds_per_word` long per word, in one frame per sentence (as Piper does)."""

    name = "scripted-tts"

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        seconds_per_word: float = 0.25,
        delay_s: float = 0.0,
        error: Exception | None = None,
    ) -> None:
        self.sample_rate = sample_rate
        self.seconds_per_word = seconds_per_word
        self.delay_s = delay_s
        self.error = error
        self.spoken: list[str] = []

    async def synthesize(
        self, text: str, *, voice: str | None = None, style: SpeechStyle | None = None
    ) -> AsyncGenerator[AudioFrame, None]:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.error is not None:
            raise self.error
        self.spoken.append(text)
        samples = int(max(1, len(text.split())) * self.seconds_per_word * self.sample_rate)
        t = np.arange(samples) / self.sample_rate
        yield AudioFrame.from_float32(0.1 * np.sin(2 * np.pi * 220 * t), self.sample_rate)


class LocalChannel:
    """An in-process channel: plays at `speed` x real time (0 = at once), keeps what it played."""

    output_sample_rate = 16000

    def __init__(self, speed: float = 0.0) -> None:
        self.speed = speed
        self.played: list[tuple[int, AudioFrame]] = []  # (turn, frame)
        self.flushes = 0

    async def flush(self) -> None:
        self.flushes += 1

    async def pump(self, session: Session) -> None:
        async for chunk in session.audio_out():
            if self.speed:
                await asyncio.sleep(chunk.frame.duration_s / self.speed)
            self.played.append((chunk.reply.turn, chunk.frame))
            session.audio_played(chunk)

    def audio_of(self, turn: int | None = None) -> AudioFrame:
        """What was played in one turn, or in all of them."""
        pcm = b"".join(f.pcm for t, f in self.played if turn is None or t == turn)
        return AudioFrame(pcm, self.output_sample_rate)
