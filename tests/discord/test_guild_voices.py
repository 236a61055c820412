"""A guild's voice names: shared voices, its own clones, and what the conversation asks the backend for."""

from __future__ import annotations

from agent_core.conversations import Conversations
from agent_core.providers import Providers
from agent_core.settings import Settings
from agent_core.storage import Database
from agent_core.testing import ScriptedLlm, ScriptedStt
from bots.guild_voices import GuildVoices
from bots.voice_service import VoiceService
from tests.discord.commandkit import LibraryTts

GUILD, OTHER = 4242, 5151


def library(*clones: str) -> LibraryTts:
    tts = LibraryTts()
    tts.voices = ["heart", "narrator", *clones]
    return tts


def test_a_guild_sees_shared_voices_and_only_its_own_clones():
    voices = GuildVoices(library(f"guild-{GUILD}/ada", f"guild-{GUILD}/narrator", f"guild-{OTHER}/bob"))
    assert voices.shared() == ["heart", "narrator"]
    assert voices.cloned(GUILD) == ["ada", "narrator"] and voices.cloned(OTHER) == ["bob"]
    assert voices.known(GUILD) == ["heart", "narrator", "ada"]  # a clone never shadows a shared voice
    assert voices.backend_voice(GUILD, "ada") == f"guild-{GUILD}/ada"
    assert voices.backend_voice(GUILD, "narrator") == "narrator"
    assert voices.backend_voice(OTHER, "ada") == "ada"  # not OTHER's: passed on for the backend to refuse


async def test_the_conversation_speaks_with_the_guilds_clone(tmp_path):
    tts = library(f"guild-{GUILD}/ada", f"guild-{OTHER}/ada")
    db = Database.for_data_dir(tmp_path)
    await db.migrate()
    conversations = Conversations(Settings(data_dir=tmp_path),
                                  Providers(stt=ScriptedStt([]), llm=ScriptedLlm([]), tts=tts), db)
    service = VoiceService(conversations)

    async def voice_in(guild_id: int, chosen: str | None) -> str | None:
        if chosen is not None:
            await db.set_guild_setting(guild_id, "voice", chosen)
        _, overrides = await service._overrides(guild_id)
        return (await conversations.persona(overrides)).voice

    assert await voice_in(GUILD, None) is None  # the backend's default
    assert await voice_in(GUILD, "ada") == f"guild-{GUILD}/ada"
    assert await voice_in(OTHER, "ada") == f"guild-{OTHER}/ada"
    assert await voice_in(GUILD, "heart") == "heart"
    await db.close()
