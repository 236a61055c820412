"""Typed events a Session emits, each stamped with `time.monotonic()`.

Adapters, metrics and storage listen to these; per-turn latencies are
computed from them (see `metrics.py`), never measured ad hoc.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # metrics.py reads these events; the type is only for annotations here
    from agent_core.metrics import TurnLatency


@dataclass(frozen=True, kw_only=True)
class SessionEvent:
    t: float  # time.monotonic() seconds
    turn: int  # the reply turn this belongs to (0 = greeting)


@dataclass(frozen=True, kw_only=True)
class SpeechStarted(SessionEvent):
    speaker: str
    onset_t: float  # when the speech began (before VAD confirmed it)


@dataclass(frozen=True, kw_only=True)
class SpeechEnded(SessionEvent):
    """`t` is when the speaker stopped talking, i.e. when the trailing silence began."""

    speaker: str


@dataclass(frozen=True, kw_only=True)
class TurnEnded(SessionEvent):
    speaker: str


@dataclass(frozen=True, kw_only=True)
class TranscriptFinal(SessionEvent):
    speaker: str
    text: str


@dataclass(frozen=True, kw_only=True)
class TextInput(SessionEvent):
    """Text that did not come from speech (DTMF digits, a typed message)."""

    speaker: str
    text: str


@dataclass(frozen=True, kw_only=True)
class LlmFirstToken(SessionEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class SentenceReady(SessionEvent):
    text: str
    index: int


@dataclass(frozen=True, kw_only=True)
class TtsFirstAudio(SessionEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class FirstAudioOut(SessionEvent):
    """The first chunk of a reply was handed to the channel."""


@dataclass(frozen=True, kw_only=True)
class ToolInvoked(SessionEvent):
    name: str
    arguments: str
    result: str


@dataclass(frozen=True, kw_only=True)
class BargeIn(SessionEvent):
    """Speech over the reply: the channel is flushed now; the reply is held or ended."""

    speaker: str
    onset_t: float


@dataclass(frozen=True, kw_only=True)
class BargeInSettled(SessionEvent):
    """What a held reply's barge-in turned out to be: no words or a backchannel (the reply
    resumes) or a real interruption (it ends)."""

    speaker: str
    text: str  # the backchannel ("uh-huh"), or "" for a sound without words
    resumed: bool


@dataclass(frozen=True, kw_only=True)
class ReplyFinished(SessionEvent):
    text: str  # everything the model wrote
    heard_text: str  # what the channel reported as played; this goes into history
    interrupted: bool
    latency: TurnLatency  # the turn's stage latencies, computed once for every listener


@dataclass(frozen=True, kw_only=True)
class ProviderFault(SessionEvent):
    stage: str  # "stt", "llm", "tts" or "tool"
    error: str


@dataclass(frozen=True, kw_only=True)
class SessionIdle(SessionEvent):
    idle_s: float


@dataclass(frozen=True, kw_only=True)
class SessionClosed(SessionEvent):
    pass


class TurnEvents:
    """Where the workers of one reply (the LLM's, the TTS's) report what happened, each event
    stamped with the reply's turn and the session's clock."""

    def __init__(self, turn: int, clock: Callable[[], float], sink: Callable[[SessionEvent], None]) -> None:
        self.turn = turn
        self._clock, self._sink = clock, sink

    def llm_first_token(self) -> None:
        self._sink(LlmFirstToken(t=self._clock(), turn=self.turn))

    def sentence_ready(self, text: str, index: int) -> None:
        self._sink(SentenceReady(t=self._clock(), turn=self.turn, text=text, index=index))

    def tts_first_audio(self) -> None:
        self._sink(TtsFirstAudio(t=self._clock(), turn=self.turn))

    def tool_invoked(self, name: str, arguments: str, result: str) -> None:
        self._sink(ToolInvoked(t=self._clock(), turn=self.turn, name=name, arguments=arguments, result=result))
