"""Speaking styles in layers (voice default < persona or guild < request) and delivery tags as style.

One function, `sentence_style`, decides what a sentence's delivery tags do, for the
conversation path and the speech API alike: on a backend that acts on `exaggeration`
(Chatterbox) a lively tag ("[laughs]", "[excited]") raises it for that sentence and a calm
one ("[sighs]", "[whispers]") lowers it; elsewhere the tags are only dropped from the words.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field


class SpeechStyle(BaseModel):
    """How to speak, beyond the voice. A backend uses what it supports and ignores the rest."""

    speed: float | None = Field(None, ge=0.25, le=4.0)
    # Chatterbox: emotion intensity, classifier-free guidance weight, sampling temperature, seed.
    exaggeration: float | None = Field(None, ge=0.0, le=2.0)
    cfg_weight: float | None = Field(None, ge=0.0, le=1.0)
    temperature: float | None = Field(None, ge=0.05, le=2.0)
    seed: int | None = None


# Tag words (by stem) that ask for more or less expression.
_LIVELY = ("laugh", "chuckl", "giggl", "snicker", "excited", "happy", "shout", "scream", "gasp", "dramatic",
           "playful", "mischievous", "surprised", "cheerful", "grin", "smil", "angry", "sing")
_CALM = ("sigh", "whisper", "calm", "tired", "sad", "murmur", "mutter", "yawn", "serious", "thoughtful", "exhal")
LIVELY_STEP = 0.35
CALM_STEP = 0.2
LIVELY_MAX = 1.2  # past ~1.2 Chatterbox's delivery turns erratic
CALM_MIN = 0.25
# Chatterbox's own advice: with a high exaggeration, a lower cfg_weight keeps the pace natural.
LIVELY_CFG_WEIGHT = 0.3
# Chatterbox's defaults, when the voice registry says nothing.
DEFAULT_EXAGGERATION = 0.5
DEFAULT_CFG_WEIGHT = 0.5


class StyleSettings(SpeechStyle):
    """A style an operator or admin writes down (persona file, guild setting): a misspelt knob is an error."""

    model_config = ConfigDict(extra="forbid")


class VoicePreset(BaseModel):
    """A named voice an operator publishes: a reference voice the backend has, plus its default style."""

    model_config = ConfigDict(extra="forbid")

    clip: str  # the backend's voice to speak with (a reference clip in its library, or its own voice)
    style: StyleSettings = StyleSettings()


def layered(*styles: SpeechStyle | None) -> SpeechStyle | None:
    """Later styles win field by field; None when no layer sets anything."""
    merged: dict[str, object] = {}
    for style in styles:
        if style is not None:
            merged.update(style.model_dump(exclude_none=True))
    return SpeechStyle.model_validate(merged) if merged else None


def tag_mood(tags: Sequence[str]) -> int:
    """+1 for a lively tag, -1 for a calm one, 0 for neither; the first tag that says either wins."""
    for tag in tags:
        words = tag.split()
        if any(w.startswith(_LIVELY) for w in words):
            return 1
        if any(w.startswith(_CALM) for w in words):
            return -1
    return 0


def sentence_style(
    tags: Sequence[str], style: SpeechStyle | None, knobs: Sequence[str], voice_default: SpeechStyle | None = None
) -> SpeechStyle | None:
    """The style to speak one sentence with, given the delivery tags it had.

    `style` is what the sentence would get anyway (persona, guild or request); `knobs` are the
    fields the backend acts on; `voice_default` the voice's own values (GET /v1/voices).
    """
    mood = tag_mood(tags)
    if mood == 0 or "exaggeration" not in knobs:
        return style  # no expressive tag, or a backend that cannot act one out: the tag is only dropped
    base = _first_set(style.exaggeration if style else None,
                      voice_default.exaggeration if voice_default else None, DEFAULT_EXAGGERATION)
    if mood > 0:
        update = {"exaggeration": max(base, min(base + LIVELY_STEP, LIVELY_MAX))}
        if "cfg_weight" in knobs:
            cfg = _first_set(style.cfg_weight if style else None,
                             voice_default.cfg_weight if voice_default else None, DEFAULT_CFG_WEIGHT)
            update["cfg_weight"] = min(cfg, LIVELY_CFG_WEIGHT)
    else:
        update = {"exaggeration": min(base, max(base - CALM_STEP, CALM_MIN))}
    return (style or SpeechStyle()).model_copy(update=update)


def _first_set(*values: float | None) -> float:
    """The first value that is set (0.0 is a value), from the sentence's style down to the default."""
    return next(v for v in values if v is not None)
