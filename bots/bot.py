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

from agent_core.conversations import Conversations
from agent_core.persona import list_personas
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
    def __init__(self, conversations: Conversations) -> None:
        super().__init__(command_prefix=commands.when_mentioned, intents=bot_intents(), help_command=None)
        if conversations.db is None:
            raise ValueError("the Discord bot keeps its guilds' settings in a database: give it one")
        self.settings = conversations.settings
        self.providers = conversations.providers
        self.db: Database = conversations.db
        self.voice_service = VoiceService(conversations)

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
