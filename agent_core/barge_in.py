"""Barge-in that makes sure before it throws a reply away.

Speech over the reply (VAD-confirmed, `min_speech_ms`) silences the bot at once:
the channel is flushed, so a real interruption stops the audio as fast as
before. But the reply is only held: its unplayed audio is kept. At the
speaker's first pause the transcript decides: no words (a cough, a door) or a
backchannel ("uh-huh", "yeah") resumes the reply where the listener stopped
hearing it; anything else (or speech longer than a backchannel) is a real
interruption and the reply ends with only its heard part in history.
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from agent_core.playback import PlaybackChunk, PlaybackQueue, SpokenReply
from agent_core.stt.base import SttStream
from agent_core.turns import TurnDetector

DEFAULT_BACKCHANNELS: dict[str, list[str]] = {
    "en": ["uh-huh", "uh huh", "mm-hmm", "mhm", "mm", "hmm", "yeah", "yes", "yep", "okay", "ok", "right",
           "sure", "i see", "got it", "alright", "all right", "ah", "aha", "oh"],
    "fr": ["oui", "ouais", "d'accord", "ok", "hm", "mm", "ah oui", "je vois"],
    "de": ["ja", "genau", "okay", "ok", "mhm", "hm", "aha", "stimmt", "alles klar"],
    "es": ["sí", "si", "vale", "claro", "ajá", "ok", "mm", "ya"],
}

log = logging.getLogger(__name__)


class BargeInSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # Resume a held reply when the sound over it had no words or only a backchannel;
    # False: any confirmed speech ends the reply for good (the old behaviour).
    resume_after_false_interruption: bool = True
    # Short affirmations that do not take the turn, per language, matched on the whole
    # (lower-case, unpunctuated) transcript; "yeah, but wait" is not one.
    backchannels: dict[str, list[str]] = DEFAULT_BACKCHANNELS
    # Speech over the reply for longer than this is an interruption, whatever it says:
    # "uh-huh" and "okay" take 300-700 ms.
    backchannel_max_ms: int = 1200


_PUNCTUATION = re.compile(r"[^\w\s'-]+", re.UNICODE)


def words_of(text: str) -> str:
    return " ".join(_PUNCTUATION.sub(" ", text.lower()).split())


def is_backchannel(text: str, language: str, settings: BargeInSettings) -> bool:
    """The whole transcript is affirmations from the list ("yeah, okay" counts, "yeah but" does not)."""
    phrases = settings.backchannels.get(language.split("-")[0].lower(), settings.backchannels.get("en", []))
    remaining = words_of(text)
    if not remaining:
        return False
    known = sorted((words_of(p) for p in phrases), key=len, reverse=True)  # "uh huh" before "uh"
    while remaining:
        match = next((p for p in known if remaining == p or remaining.startswith(p + " ")), None)
        if match is None:
            return False
        remaining = remaining[len(match) :].strip()
    return True


@dataclass
class HeldReply:
    """A reply silenced by speech that may still turn out to be a cough or an "uh-huh"."""

    reply: SpokenReply
    speaker: str
    taken_back: list[PlaybackChunk] = field(default_factory=list)  # queued, never handed to the channel
    deciding: bool = False  # the transcript at the speaker's pause is being read
    ended: tuple[float, float] | None = None  # (now, speech end) if their turn ended before the decision


class BargeInStep(enum.Enum):
    WAIT = "wait"  # still talking, briefly: could be an "uh-huh"
    READ = "read"  # paused (or done): what the STT heard decides
    INTERRUPT = "interrupt"  # too long for a backchannel: a real interruption


def next_step(held: HeldReply, detector: TurnDetector, settings: BargeInSettings) -> BargeInStep:
    if detector.in_speech and detector.speech_ms > settings.backchannel_max_ms:
        return BargeInStep.INTERRUPT
    pause_ms = detector.settings.early_transcript_silence_ms  # when the transcript so far is ready
    if held.ended is not None or 0 < pause_ms <= detector.silence_ms:
        return BargeInStep.READ
    return BargeInStep.WAIT


async def read_sound(stt: SttStream | None, language: str, settings: BargeInSettings) -> tuple[bool, str]:
    """(resume the reply?, what was heard): yes for no words or only a backchannel."""
    try:
        text = await stt.text_so_far() if stt is not None else None
    except Exception as exc:
        log.warning("could not read what was said over the reply (%s): taking it as an interruption", exc)
        text = None
    if text is None:  # no way to tell (no transcript before the turn ends): treat it as the interruption it may be
        return False, ""
    return (not words_of(text) or is_backchannel(text, language, settings)), text


class ReplyHold:
    """Keeps track of audio handed to the channel but not yet heard, so a held reply can be
    put back exactly where the listener stopped hearing it."""

    def __init__(self, playback: PlaybackQueue) -> None:
        self._playback = playback
        self._in_flight: dict[int, PlaybackChunk] = {}
        self.held: HeldReply | None = None

    def handed_out(self, chunk: PlaybackChunk) -> None:
        self._in_flight[chunk.id] = chunk

    def played(self, chunk: PlaybackChunk) -> None:
        self._in_flight.pop(chunk.id, None)

    def hold(self, reply: SpokenReply, speaker: str) -> HeldReply:
        """Stop handing out audio and take back what is queued; the caller flushes the channel."""
        self._playback.hold()
        self.held = HeldReply(reply, speaker, self._playback.take_all())
        return self.held

    def resume(self) -> None:
        """Play on from the first chunk the listener did not hear."""
        held, self.held = self.held, None
        if held is None:
            return
        unheard = sorted((c for c in self._in_flight.values() if c.reply is held.reply), key=lambda c: c.id)
        self._in_flight.clear()
        self._playback.release([*unheard, *(c for c in held.taken_back if c.reply is held.reply)])

    def drop(self) -> HeldReply | None:
        """A real interruption: the held audio is gone for good."""
        held, self.held = self.held, None
        self._in_flight.clear()
        self._playback.clear()
        self._playback.release([])
        return held
