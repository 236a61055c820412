"""Which voices a guild may use: the TTS backend's shared voices and the guild's own clones.

A clone made with `/voice clone` lives in the active backend's voice library under the
guild's namespace, so one guild never sees or speaks with another's. The guild settings
keep the plain name the admins chose; `backend_voice` turns it into what the backend knows.
"""

from __future__ import annotations

from agent_core.tts.base import TextToSpeech, namespaced_voice, voice_namespace


def guild_namespace(guild_id: int) -> str:
    return f"guild-{guild_id}"


class GuildVoices:
    def __init__(self, tts: TextToSpeech) -> None:
        self.tts = tts

    @property
    def can_clone(self) -> bool:
        return self.tts.can_clone

    @property
    def backend(self) -> str:
        return self.tts.name

    def shared(self) -> list[str]:
        return [v for v in self.tts.voice_names() if voice_namespace(v) is None]

    def cloned(self, guild_id: int) -> list[str]:
        prefix = namespaced_voice(guild_namespace(guild_id), "")
        return sorted(v.removeprefix(prefix) for v in self.tts.voice_names() if v.startswith(prefix))

    def known(self, guild_id: int) -> list[str]:
        """Shared voices, then this guild's clones (a clone never shadows a shared voice)."""
        shared = self.shared()
        return shared + [c for c in self.cloned(guild_id) if c not in shared]

    def backend_voice(self, guild_id: int, name: str) -> str:
        """The backend's name for the guild's voice `name`; one it lacks is passed on for it to refuse."""
        if name not in self.shared() and name in self.cloned(guild_id):
            return namespaced_voice(guild_namespace(guild_id), name)
        return name

    async def refresh(self) -> None:
        await self.tts.refresh_voices()

    async def clone(self, guild_id: int, name: str, wav_bytes: bytes) -> str:
        return await self.tts.clone_voice(name, wav_bytes, namespace=guild_namespace(guild_id))
