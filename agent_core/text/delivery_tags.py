"""Emotion and delivery tags ("[laughs]", "*sighs*", "<laugh>", "(clears throat)", "[excited]") are
stage directions, never words: they are removed before text reaches a voice.

Only tags whose first word is a known delivery word are removed, so "[1]", "*really*" and
"(see above)" stay text. An engine that can act a tag out would take it from `delivery_tags`.
"""

from __future__ import annotations

import re

# The delivery words LLMs and TTS prompt styles (Orpheus, Dia, ElevenLabs v3) put in tags.
_DELIVERY_STEMS = (
    r"laugh|chuckl|giggl|snicker|sigh|gasp|cough|sniff|sniffl|groan|yawn|whisper|sob|cry|cries|crie"
    r"|clear|paus|smil|grin|exhal|inhal|breath|hum|scream|shout|sing|mutter|murmur|gulp"
)
# A stem plus an inflection only, so "*humbly*" or "*singular*" (emphasis) stay words.
_WORD = rf"(?:{_DELIVERY_STEMS})(?:e|s|es|ed|d|ing|ning|ming|bing|ter|y)?\b"
_BODY = rf"\s*(?:(?:softly|quietly|nervously|loudly|lightly|a bit|a little)\s+)?{_WORD}(?:\s+[a-z]+){{0,2}}\s*"
# Moods ElevenLabs-style prompts put in square brackets: only there (and in <...>), since
# "I'm *excited*" or "(happy)" in prose are words.
_MOOD = (
    r"\s*(?:excited|happy|sad|angry|sarcastic(?:ally)?|curious|nervous|cheerful(?:ly)?|serious(?:ly)?"
    r"|surprised|thoughtful(?:ly)?|playful(?:ly)?|mischievous(?:ly)?|annoyed|frustrated|calm(?:ly)?|tired"
    r"|warm(?:ly)?|dramatic(?:ally)?)\s*"
)
_TAG = re.compile(
    rf"\[{_BODY}\]|<{_BODY}/?>|\({_BODY}\)|(?<![\w*])\*{_BODY}\*(?![\w*])|\[{_MOOD}\]|<{_MOOD}/?>",
    re.IGNORECASE,
)


def delivery_tags(text: str) -> list[str]:
    """The tags in `text`, lowercased and without their brackets, in order."""
    return [match.group(0).strip("[]<>()*/ ").lower() for match in _TAG.finditer(text)]


def strip_delivery_tags(text: str) -> str:
    """`text` without its delivery tags; the space they leave is one space."""
    return re.sub(r"[ \t]{2,}", " ", _TAG.sub(" ", text)).strip() if _TAG.search(text) else text
