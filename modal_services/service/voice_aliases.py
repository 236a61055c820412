"""Voice names OpenAI clients send ("alloy", "nova") mapped to this engine's voices, by the operator.

Explicit, never a guess: an alias must name a voice the engine has when the service starts,
and a name that is neither a voice nor an alias is refused like any unknown voice.
"""

from __future__ import annotations


class VoiceAliases:
    def __init__(self, aliases: dict[str, str], voices: list[str]) -> None:
        missing = {alias: voice for alias, voice in aliases.items() if voice not in voices}
        if missing:
            raise ValueError(f"voice aliases name voices the engine does not have: {missing}; "
                             f"its voices: {', '.join(voices)}")
        self.aliases = dict(aliases)

    def resolve(self, voice: str | None) -> str | None:
        return self.aliases.get(voice, voice) if voice is not None else None
