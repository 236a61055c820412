"""The Discord bot: the voice service plus the admins' slash commands.

Sharded (AutoShardedBot) so one process serves many guilds. Commands are
synced by the owner on demand (`@Parley sync`), never on every start.

There is deliberately no `on_voice_state_update` here: a voice-state update that
shows the bot gone is usually discord.py leaving to rejoin on its own. A
conversation ends when its voice connection does (bots/voice_service.py).
"""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from agent_core.admission import Admission
from agent_core.persona import list_personas
from agent_core.providers import Providers
from agent_core.settings import Settings
from agent_core.storage import Database
from bots.commands import ParleyCommands
from bots.guild_voices import GuildVoices
from bots.voice_service import VoiceService

log = logging.getLogger(__name__)


def bot_intents() -> discord.Intents:
    # No privileged intents: members in voice channels are cached through voice states,
    # and the owner's sync command is addressed by mention.
    intents = discord.Intents.none()
    intents.guilds = True
    intents.voice_states = True
    intents.guild_messages = True
    return intents


class ParleyBot(commands.AutoShardedBot):
    def __init__(self, settings: Settings, providers: Providers, db: Database, admission: Admission | None = None) -> None:
        super().__init__(command_prefix=commands.when_mentioned, intents=bot_intents(), help_command=None)
        self.settings = settings
        self.providers = providers
        self.db = db
        self.voice_service = VoiceService(settings, providers, db, admission)

    async def setup_hook(self) -> None:
        await self.db.migrate()
        await self.providers.load()
        await self.add_cog(
            ParleyCommands(
                self,
                voice=self.voice_service,
                db=self.db,
                personas=lambda: list_personas(self.settings.personas_dir),
                voices=GuildVoices(self.providers.tts),
            )
        )

    async def on_ready(self) -> None:
        log.info("Discord: logged in as %s in %d guilds", self.user, len(self.guilds))

    async def close(self) -> None:
        await self.voice_service.close()
        await super().close()
