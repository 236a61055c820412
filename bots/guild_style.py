"""A guild's speaking style (`/voice style`): the speech API's knobs and ranges, stored as one guild setting.

The stored style goes over the persona's own (`[style]` in its file) field by field, for the
live conversation and the later ones. Ranges come from SpeechStyle, so Discord's option limits,
the check here and the speech API never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from agent_core.tts.base import SpeechStyle
from agent_core.tts.styles import StyleSettings

STYLE_KEY = "style"
# What an admin sets for the guild's voice; a seed makes sense per request only.
STYLE_KNOBS = ("speed", "exaggeration", "cfg_weight", "temperature")


class StyleError(ValueError):
    """A value out of range; the message says the allowed range."""


def knob_range(name: str) -> tuple[float, float]:
    """(lowest, highest) SpeechStyle allows for `name`."""
    low = high = None
    for rule in SpeechStyle.model_fields[name].metadata:
        low = getattr(rule, "ge", low)
        high = getattr(rule, "le", high)
    if low is None or high is None:
        raise AssertionError(f"SpeechStyle.{name} has no range")
    return float(low), float(high)


def updated_style(stored: dict[str, Any] | None, changes: dict[str, float | None]) -> dict[str, float]:
    """The guild's style with `changes` (None: unchanged) applied and checked; raises StyleError."""
    style = dict(stored or {})
    style.update({k: v for k, v in changes.items() if v is not None})
    try:
        return StyleSettings(**style).model_dump(exclude_none=True)
    except ValidationError as exc:
        name = str(exc.errors()[0]["loc"][0])
        low, high = knob_range(name) if name in STYLE_KNOBS else (None, None)
        raise StyleError(f"`{name}` must be from {low:g} to {high:g}." if low is not None else str(exc)) from exc


def describe_style(style: dict[str, Any], knobs: Sequence[str], backend: str) -> str:
    """What an admin reads: the values set, the ranges, and which knobs this backend ignores."""
    shown = ", ".join(f"`{k}` {style[k]:g}" for k in STYLE_KNOBS if k in style) or "the voice's own (nothing set)"
    ranges = ", ".join(f"{k} {knob_range(k)[0]:g}-{knob_range(k)[1]:g}" for k in STYLE_KNOBS)
    lines = [f"Speaking style: {shown}.", f"Ranges: {ranges}."]
    if knobs and (ignored := [k for k in STYLE_KNOBS if k not in knobs]):
        lines.append(f"The active TTS backend ({backend}) ignores: {', '.join(ignored)}.")
    return "\n".join(lines)
