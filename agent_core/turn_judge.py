"""Asks the end-of-turn signals about one pause and fuses their answers.

The audio signal is Smart Turn on the last 8 s of the speaker's audio (unless
the STT backend predicts pauses itself, as Kyutai STT does); the text signal is
the transcript so far, read by syntactic cues and by the language model. Both
run in worker threads; this only awaits them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from agent_core.llm.base import LanguageModel, Message
from agent_core.smart_turn import SmartTurn
from agent_core.stt.base import SttStream
from agent_core.turn_text import syntactic_complete_probability, text_for_scoring
from agent_core.turns import TurnSettings, Verdict, fuse

log = logging.getLogger(__name__)


@dataclass
class PauseEvidence:
    """What the signals said about one pause, and what each cost (for logs and the benchmark)."""

    audio: float | None = None
    text: float | None = None
    transcript: str | None = None
    audio_ms: float = 0.0
    text_ms: float = 0.0


class TurnJudge:
    def __init__(
        self,
        *,
        smart_turn: SmartTurn | None,
        llm: LanguageModel | None,
        language: str,
        conversation: Callable[[], list[Message]],
    ) -> None:
        self._smart_turn = smart_turn
        self._llm = llm
        self._language = language
        self._conversation = conversation  # the prompt so far: system prompt and recent history

    async def judge(
        self, settings: TurnSettings, audio: np.ndarray, stt: SttStream | None, on_verdict: Callable[[Verdict], None]
    ) -> PauseEvidence:
        """Ask the signals; call `on_verdict` as soon as the answer is known (clearly incomplete audio
        needs no transcript), and once more when both have spoken."""
        evidence = PauseEvidence()
        use_audio = settings.uses_audio and not _predicts_pauses(stt)
        text_task = asyncio.create_task(self._text(stt, evidence)) if settings.uses_text else None
        try:
            if use_audio:
                started = time.perf_counter()
                model = self._smart_turn
                if model is None:
                    model = await asyncio.to_thread(SmartTurn.shared)  # loaded once per process
                evidence.audio = await model.complete_probability(audio)
                evidence.audio_ms = (time.perf_counter() - started) * 1000
                if fuse(settings, evidence.audio, None) is Verdict.INCOMPLETE:
                    on_verdict(Verdict.INCOMPLETE)
                    return evidence
            if text_task is not None:
                await text_task
        finally:
            if text_task is not None and not text_task.done():
                text_task.cancel()
        verdict = fuse(settings, evidence.audio, evidence.text)
        if not use_audio and settings.uses_audio and verdict is Verdict.COMPLETE:
            # The backend's pause probability is the audio signal (Kyutai STT): it ends the turn
            # itself once past its threshold; the text alone only says "not before then".
            verdict = Verdict.UNSURE
        on_verdict(verdict)
        return evidence

    async def _text(self, stt: SttStream | None, evidence: PauseEvidence) -> None:
        if stt is None:
            return
        try:
            transcript = await stt.text_so_far()
        except Exception as exc:  # the turn's own transcript will report the STT fault
            log.info("no transcript for the end-of-turn check: %s", exc)
            return
        evidence.transcript = transcript
        if not transcript or not transcript.strip():
            return
        started = time.perf_counter()
        cue = syntactic_complete_probability(transcript, self._language)
        scored = None
        if cue is None and self._llm is not None:
            try:
                scored = await self._llm.end_of_turn_probability(self._conversation(), text_for_scoring(transcript))
            except Exception as exc:
                log.warning("the language model's end-of-turn check failed: %s", exc)
        evidence.text = cue if cue is not None else scored
        evidence.text_ms = (time.perf_counter() - started) * 1000


def _predicts_pauses(stt: SttStream | None) -> bool:
    return stt is not None and stt.predicts_pauses
