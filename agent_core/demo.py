"""A whole conversation in one process: a caller question in, a spoken reply out.

The caller's audio is paced in real time, 20 ms at a time, as a phone line
would deliver it, so the latencies reported are the ones a caller would feel.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from agent_core import events as ev
from agent_core.audio.frames import AudioFrame
from agent_core.audio.resample import resample
from agent_core.persona import Persona
from agent_core.providers import Providers
from agent_core.session import Session, SessionSettings
from agent_core.vad import SileroVad

DEFAULT_QUESTION = "What is the capital of France?"
FRAME_S = 0.02
CALLER_RATE = 16000


class LocalChannel:
    """An in-process channel that plays instantly and keeps what it played."""

    output_sample_rate = 16000

    def __init__(self) -> None:
        self.played: dict[int, list[AudioFrame]] = {}
        self.flushes = 0

    async def flush(self) -> None:
        self.flushes += 1

    async def pump(self, session: Session) -> None:
        while True:
            chunk = await session.next_audio()
            self.played.setdefault(chunk.reply.turn, []).append(chunk.frame)
            session.audio_played(chunk)

    def audio_of(self, turn: int) -> AudioFrame:
        frames = self.played.get(turn, [])
        return AudioFrame(b"".join(f.pcm for f in frames), self.output_sample_rate)


@dataclass
class DemoResult:
    transcript: str
    reply_text: str
    reply_audio: AudioFrame
    latency_ms: dict[str, float | None] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {
            "transcript": self.transcript,
            "reply_text": self.reply_text,
            "reply_audio_seconds": round(self.reply_audio.duration_s, 3),
            "latency_ms": self.latency_ms,
        }


async def synthesize_question(providers: Providers, text: str = DEFAULT_QUESTION) -> AudioFrame:
    frames = [f async for f in providers.tts.synthesize(text)]
    joined = AudioFrame(b"".join(f.pcm for f in frames), frames[0].sample_rate)
    return resample(joined, CALLER_RATE)


async def run_demo(
    providers: Providers,
    persona: Persona,
    question: AudioFrame,
    settings: SessionSettings | None = None,
    timeout_s: float = 60.0,
) -> DemoResult:
    channel = LocalChannel()
    session = Session(
        stt=providers.stt,
        llm=providers.llm,
        tts=providers.tts,
        persona=persona.model_copy(update={"greeting": ""}),
        channel=channel,
        vad=SileroVad.shared(),
        settings=settings,
    )
    finished: asyncio.Future[ev.ReplyFinished] = asyncio.get_running_loop().create_future()

    def on_event(event: ev.SessionEvent) -> None:
        if isinstance(event, ev.ReplyFinished) and event.turn >= 1 and not finished.done():
            finished.set_result(event)

    session.subscribe(on_event)
    pump = asyncio.create_task(channel.pump(session))
    await session.start()
    try:
        caller = asyncio.create_task(_speak_like_a_caller(session, resample(question, CALLER_RATE)))
        reply = await asyncio.wait_for(finished, timeout_s)
        caller.cancel()
    finally:
        pump.cancel()
        await session.close()
    transcripts = [e.text for e in session.events if isinstance(e, ev.TranscriptFinal)]
    latency = session.latencies()
    return DemoResult(
        transcript=" ".join(transcripts).strip(),
        reply_text=reply.heard_text,
        reply_audio=channel.audio_of(reply.turn),
        latency_ms=latency[0].as_dict() if latency else {},
    )


async def _speak_like_a_caller(session: Session, question: AudioFrame) -> None:
    """Real-time paced 20 ms frames: a little silence, the question, then silence."""
    loop = asyncio.get_running_loop()
    audio = AudioFrame.silence(0.3, CALLER_RATE) + question
    frames = audio.split(FRAME_S)
    start = loop.time()
    index = 0
    while True:
        frame = frames[index] if index < len(frames) else AudioFrame.silence(FRAME_S, CALLER_RATE)
        session.push_audio("caller", frame)
        index += 1
        await asyncio.sleep(max(0.0, start + index * FRAME_S - loop.time()))
