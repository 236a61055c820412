"""A whole conversation in one process: a caller question in, a spoken reply out.

The caller's audio is paced in real time, 20 ms at a time, as a phone line
would deliver it, so the latencies reported are the ones a caller would feel.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from agent_core import events as ev
from agent_core.audio.frames import AudioFrame
from agent_core.audio.resample import resample
from agent_core.audio.wav import read_wav
from agent_core.paths import config_dir
from agent_core.persona import Persona
from agent_core.providers import Providers
from agent_core.session import Session
from agent_core.session_settings import SessionSettings
from agent_core.testing import LocalChannel
from agent_core.vad import SileroVad

DEFAULT_QUESTION = "What is the capital of France?"
FRAME_S = 0.02
CALLER_RATE = 16000


@dataclass
class DemoResult:
    transcript: str
    reply_text: str
    reply_audio: AudioFrame
    latency_ms: dict[str, float | None] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "transcript": self.transcript,
            "reply_text": self.reply_text,
            "reply_audio_seconds": round(self.reply_audio.duration_s, 3),
            "latency_ms": self.latency_ms,
        }


def default_question() -> AudioFrame:
    """DEFAULT_QUESTION, recorded once (in Piper's en_US-joe voice) and shipped as a file, so every
    demo run asks exactly the same thing in a voice other than the agent's."""
    return read_wav(config_dir() / "sounds" / "question.wav")


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
    last_sound: list[float] = []
    try:
        caller = asyncio.create_task(_speak_like_a_caller(session, resample(question, CALLER_RATE), last_sound))
        reply = await asyncio.wait_for(finished, timeout_s)
        caller.cancel()
    finally:
        pump.cancel()
        await session.close()
    transcripts = [e.text for e in session.events if isinstance(e, ev.TranscriptFinal)]
    latency = session.latencies()
    latency_ms = latency[0].as_dict() if latency else {}
    # voice_to_voice counts from when VAD heard the silence begin; this counts from the
    # caller's last audible sound, which is what a person waiting for the answer feels.
    first_out = next((e.t for e in session.events if isinstance(e, ev.FirstAudioOut) and e.turn == reply.turn), None)
    if first_out is not None and last_sound:
        latency_ms["last_sound_to_reply"] = round((first_out - last_sound[0]) * 1000.0, 1)
    return DemoResult(
        transcript=" ".join(transcripts).strip(),
        reply_text=reply.heard_text,
        reply_audio=channel.audio_of(reply.turn),
        latency_ms=latency_ms,
    )


async def _speak_like_a_caller(session: Session, question: AudioFrame, last_sound: list[float]) -> None:
    """Real-time paced 20 ms frames: a little silence, the question, then silence.

    Appends to `last_sound` the monotonic time the question's last audible frame was sent.
    """
    loop = asyncio.get_running_loop()
    audio = AudioFrame.silence(0.3, CALLER_RATE) + question
    frames = audio.split(FRAME_S)
    audible = [i for i, f in enumerate(frames) if f.audible]
    last_audible = audible[-1] if audible else -1
    start = loop.time()
    index = 0
    while True:
        frame = frames[index] if index < len(frames) else AudioFrame.silence(FRAME_S, CALLER_RATE)
        session.push_audio("caller", frame)
        if index == last_audible:
            last_sound.append(time.monotonic())
        index += 1
        await asyncio.sleep(max(0.0, start + index * FRAME_S - loop.time()))
