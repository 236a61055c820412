"""A whole recording's transcript with its timing: what OpenAI's verbose_json, srt and vtt are made of."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TimedWord:
    word: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Segment:
    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    duration_s: float
    # An engine without timing gives one segment spanning the recording.
    segments: list[Segment] = field(default_factory=list)
    # Only where the engine times words and the caller asked for them.
    words: list[TimedWord] | None = None
