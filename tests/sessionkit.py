"""A test channel and audio feeding for Session tests."""

from __future__ import annotations

import asyncio

from agent_core import events as ev
from agent_core.audio import AudioFrame
from agent_core.persona import Persona
from agent_core.session import Session, SessionSettings
from agent_core.testing import LocalChannel, ScriptedLlm, ScriptedStt, ScriptedTts
from agent_core.turns import TurnSettings

PERSONA = Persona(name="test", system_prompt="You are a test.", greeting="", apology="Sorry, say that again?")


def make_session(
    *,
    stt: ScriptedStt | None = None,
    llm: ScriptedLlm | None = None,
    tts: ScriptedTts | None = None,
    channel: LocalChannel | None = None,
    **settings,
) -> tuple[Session, LocalChannel]:
    channel = channel or LocalChannel()
    # Silence alone ends turns here, so audio fed faster than real time ends them at a known
    # point; the semantic policy has its own tests (test_turn_taking.py).
    turn = TurnSettings(end_of_turn_signals="silence", min_speech_ms=96, end_of_turn_silence_ms=320)
    session = Session(
        stt=stt or ScriptedStt(),
        llm=llm or ScriptedLlm(),
        tts=tts or ScriptedTts(),
        persona=PERSONA,
        channel=channel,
        settings=SessionSettings(turn=turn, **settings),
    )
    return session, channel


async def speak(session: Session, speaker: str, audio: AudioFrame, *, silence_s: float = 0.6, realtime: bool = False):
    """Push audio then trailing silence as 20 ms frames, letting the loop run between frames."""
    full = audio + AudioFrame.silence(silence_s, audio.sample_rate)
    for frame in full.split(0.02):
        session.push_audio(speaker, frame)
        await asyncio.sleep(0.02 if realtime else 0)


async def wait_for(session: Session, kind: type[ev.SessionEvent], count: int = 1, timeout: float = 10.0):
    async def condition():
        while sum(isinstance(e, kind) for e in session.events) < count:
            await asyncio.sleep(0.005)

    await asyncio.wait_for(condition(), timeout)
    return [e for e in session.events if isinstance(e, kind)]
