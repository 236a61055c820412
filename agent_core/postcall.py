"""What post-call jobs do: an accurate transcript of the recording, and a summary of the conversation.

They run in a worker process (`parley worker`), never in the process that carries live calls.
Each returns the job's result as a dict.
"""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agent_core.audio.frames import AudioFrame
from agent_core.audio.resample import resample
from agent_core.llm.base import LanguageModel
from agent_core.storage import ConversationRecord
from agent_core.summary import summarize


class Transcriber(Protocol):
    name: str

    async def transcribe(self, frame: AudioFrame, language: str | None = None) -> str: ...


class PostCallError(Exception):
    """A job that cannot succeed as things are (e.g. no recording): it fails with this reason."""


def caller_track(wav_path: Path) -> AudioFrame:
    """The caller's side (left channel) of a recording, at 16 kHz for speech-to-text."""
    with wave.open(str(wav_path)) as wav:
        channels, rate = wav.getnchannels(), wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, channels)
    return resample(AudioFrame(samples[:, 0].copy().tobytes(), rate), 16000)


async def transcript_job(stt: Transcriber, recording: Path | None, language: str) -> dict[str, Any]:
    if recording is None:
        raise PostCallError("the conversation has no recording to transcribe")
    audio = await asyncio.to_thread(caller_track, recording)
    text = await stt.transcribe(audio, language)
    return {"text": text, "model": stt.name, "audio_seconds": round(audio.duration_s, 2)}


async def summary_job(llm: LanguageModel, conversation: ConversationRecord) -> dict[str, Any]:
    return {"summary": await summarize(llm, conversation.turns), "model": llm.name}
