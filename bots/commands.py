"""Slash commands that steer Parley in a guild: join/leave, persona, voice, reply mode, /say, /status.

Commands that change behaviour need Manage Server; read-only ones are open to
members. Every reply is ephemeral. The `sync` prefix command (owner only)
publishes the commands; nothing syncs on start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from agent_core import telemetry
from agent_core.errors import ProviderError
from agent_core.remote.connections import ServiceUnavailable
from agent_core.storage import Database
from bots.config_commands import (
    REPLY_MODES,
    ConfigCommands,
    admin_only,
    filter_choices,
    guild_id_of,
    reply,
)
from bots.guild_style import STYLE_KEY, StyleError, describe_style, knob_range, updated_style
from bots.guild_voices import GuildVoices
from bots.voice_clips import MAX_UPLOAD_BYTES, VoiceClipError, prepare_voice_clip, validate_clip_name
from bots.voice_manager import GuildVoiceStatus, VoiceError, VoiceManager

log = logging.getLogger(__name__)

SAY_MAX_CHARS = 500
# Discord checks the option ranges too; they are SpeechStyle's (read at import, as Range needs literals).
SPEED_MIN, SPEED_MAX = knob_range("speed")
EXAGGERATION_MIN, EXAGGERATION_MAX = knob_range("exaggeration")
CFG_WEIGHT_MIN, CFG_WEIGHT_MAX = knob_range("cfg_weight")
TEMPERATURE_MIN, TEMPERATURE_MAX = knob_range("temperature")


def _format_status(status: GuildVoiceStatus) -> str:
    speakers = ", ".join(status.speakers_heard) or "nobody yet"
    if status.last_turn_latency_ms:
        latency = " · ".join(
            f"{stage} {'—' if ms is None else f'{ms:.0f} ms'}" for stage, ms in status.last_turn_latency_ms.items()
        )
    else:
        latency = "no turn yet"
    dropped = " · ".join(f"{reason} {count}" for reason, count in status.dropped_frames.items()) or "none"
    ratio = status.decrypt_failure_ratio
    failing = "no packets yet" if ratio is None else f"{100 * ratio:.1f}% in the last minute"
    return "\n".join(
        [
            f"**Channel:** {status.channel_name} ({status.state})",
            f"**Reply mode:** {status.reply_mode}",
            f"**Speakers heard:** {speakers}",
            f"**Last turn latency:** {latency}",
            f"**Dropped frames:** {dropped}",
            f"**Decrypt failures:** {failing}",
        ]
    )


class ParleyCommands(ConfigCommands, commands.Cog):
    """Steer Parley in this server."""

    def __init__(
        self,
        bot: commands.Bot | commands.AutoShardedBot,
        *,
        voice: VoiceManager,
        db: Database,
        personas: Callable[[], list[str]],
        voices: GuildVoices,
    ) -> None:
        self.bot = bot
        self.voice_manager = voice
        self.db = db
        self.personas = personas
        self.voices = voices

    # -- errors ----------------------------------------------------------------

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.MissingPermissions):
            telemetry.refused("not_admin")
            message = "You need the **Manage Server** permission to use this command."
        elif isinstance(error, app_commands.NoPrivateMessage):
            message = "This command works only in a server."
        elif isinstance(error, app_commands.CheckFailure):
            message = "You cannot use this command here."
        elif isinstance(error, app_commands.TransformerError):  # e.g. a channel the bot cannot see
            message = f"I cannot use that value: {error}"
        else:
            log.error("slash command failed", exc_info=error)
            message = "Something went wrong; the error was logged."
        try:
            await reply(interaction, message)
        except discord.HTTPException:
            log.warning("could not report a command error to the user", exc_info=True)

    # -- join / leave ------------------------------------------------------------

    @app_commands.command(name="join", description="Join a voice channel (default: the one you are in)")
    @app_commands.describe(channel="Voice or stage channel to join")
    @app_commands.guild_only()
    @admin_only()
    async def join(
        self, interaction: discord.Interaction, channel: discord.VoiceChannel | discord.StageChannel | None = None
    ) -> None:
        guild = interaction.guild
        if guild is None:
            raise app_commands.NoPrivateMessage()
        target = channel
        if target is None and isinstance(interaction.user, discord.Member) and interaction.user.voice:
            target = interaction.user.voice.channel
        if target is None:
            await reply(interaction, "Pick a channel (`/join channel:`) or join a voice channel first.")
            return
        # Connecting (and the voice handshake) can take longer than Discord's 3 s answer window.
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            await self.voice_manager.join(guild, target)
        except VoiceError as exc:
            await reply(interaction, f"Could not join: {exc}")
            return
        await reply(interaction, f"Joined {target.mention}.")

    @app_commands.command(name="leave", description="Leave the voice channel")
    @app_commands.guild_only()
    @admin_only()
    async def leave(self, interaction: discord.Interaction) -> None:
        guild = interaction.guild
        if guild is None:
            raise app_commands.NoPrivateMessage()
        # Disconnecting closes the conversation (and its record), which may be slow.
        await interaction.response.defer(ephemeral=True, thinking=True)
        left = await self.voice_manager.leave(guild)
        await reply(interaction, "Left the voice channel." if left else "I'm not in a voice channel in this server.")

    # -- /persona ----------------------------------------------------------------

    persona_group = app_commands.Group(name="persona", description="Who Parley is in this server", guild_only=True)

    @persona_group.command(name="set", description="Switch persona (admins)")
    @app_commands.describe(name="Persona name")
    @admin_only()
    async def persona_set(self, interaction: discord.Interaction, name: str) -> None:
        known = self.personas()
        if name not in known:
            await reply(interaction, f"Unknown persona `{name}`. Available: {', '.join(known) or 'none'}.")
            return
        await self._save_setting(interaction, "persona", name)
        await reply(interaction, f"Persona is now **{name}**.")

    @persona_set.autocomplete("name")
    async def _persona_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return filter_choices(self.personas(), current)

    @persona_group.command(name="show", description="Show the current persona")
    async def persona_show(self, interaction: discord.Interaction) -> None:
        settings = await self.db.get_guild_settings(guild_id_of(interaction))
        current = settings.get("persona")
        shown = f"**{current}**" if current else "the default"
        await reply(interaction, f"Persona: {shown}.\nAvailable: {', '.join(self.personas()) or 'none'}.")

    # -- /voice ------------------------------------------------------------------

    voice_group = app_commands.Group(name="voice", description="Parley's speaking voice", guild_only=True)

    @voice_group.command(name="list", description="List the available voices")
    async def voice_list(self, interaction: discord.Interaction) -> None:
        guild_id = guild_id_of(interaction)
        settings = await self.db.get_guild_settings(guild_id)
        lines = [
            f"Current voice: **{settings['voice']}**" if settings.get("voice") else "Current voice: the default",
            f"Voices: {', '.join(self.voices.shared()) or 'none'}",
        ]
        if clones := self.voices.cloned(guild_id):
            lines.append(f"Cloned for this server: {', '.join(clones)}")
        await reply(interaction, "\n".join(lines))

    @voice_group.command(name="set", description="Switch voice (admins)")
    @app_commands.describe(name="Voice name")
    @admin_only()
    async def voice_set(self, interaction: discord.Interaction, name: str) -> None:
        guild_id = guild_id_of(interaction)
        known = self._known_voices(guild_id)
        if name not in known:
            await reply(interaction, f"Unknown voice `{name}`. Available: {', '.join(known) or 'none'}.")
            return
        await self._save_setting(interaction, "voice", name)
        await reply(interaction, f"Voice is now **{name}**.")

    @voice_set.autocomplete("name")
    async def _voice_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        return filter_choices(self._known_voices(interaction.guild_id), current)

    @voice_group.command(name="style", description="Show or change how the voice speaks (admins)")
    @app_commands.describe(
        speed="Speaking rate, 1 = normal", exaggeration="Emotion intensity (Chatterbox), 0.5 = neutral",
        cfg_weight="Pace and adherence (Chatterbox), lower = slower", temperature="Sampling variety (Chatterbox)",
        reset="Go back to the persona's and voice's own style",
    )
    @admin_only()
    async def voice_style(
        self,
        interaction: discord.Interaction,
        speed: app_commands.Range[float, SPEED_MIN, SPEED_MAX] | None = None,
        exaggeration: app_commands.Range[float, EXAGGERATION_MIN, EXAGGERATION_MAX] | None = None,
        cfg_weight: app_commands.Range[float, CFG_WEIGHT_MIN, CFG_WEIGHT_MAX] | None = None,
        temperature: app_commands.Range[float, TEMPERATURE_MIN, TEMPERATURE_MAX] | None = None,
        reset: bool = False,
    ) -> None:
        guild_id = guild_id_of(interaction)
        stored = (await self.db.get_guild_settings(guild_id)).get(STYLE_KEY) or {}
        changes = {"speed": speed, "exaggeration": exaggeration, "cfg_weight": cfg_weight, "temperature": temperature}
        tts = self.voices.tts
        if reset or any(v is not None for v in changes.values()):  # no option: show what is set
            try:
                stored = updated_style(None if reset else stored, changes)
            except StyleError as exc:
                await reply(interaction, str(exc))
                return
            await self._save_setting(interaction, STYLE_KEY, stored)
        await reply(interaction, describe_style(stored, tts.style_knobs, tts.name))

    @voice_group.command(name="clone", description="Upload a 3-30 s clip of a voice to clone (admins)")
    @app_commands.describe(name="Name for the new voice", attachment="Audio clip: mp3, ogg/opus, m4a or wav, 3-30 s")
    @admin_only()
    async def voice_clone(self, interaction: discord.Interaction, name: str, attachment: discord.Attachment) -> None:
        guild_id = guild_id_of(interaction)
        # Cheap checks first, so a bad request is answered before downloading anything.
        try:
            validate_clip_name(name)
        except VoiceClipError as exc:
            await reply(interaction, str(exc))
            return
        if not self.voices.can_clone:  # a TTS service that was cold when the bot started may clone after all
            await interaction.response.defer(ephemeral=True, thinking=True)
            await self.voices.refresh()
        if not self.voices.can_clone:
            await reply(interaction, f"The active TTS backend ({self.voices.backend}) cannot clone voices.")
            return
        if name in self.voices.shared():
            await reply(interaction, f"`{name}` is a built-in voice; pick another name for the clone.")
            return
        if attachment.size > MAX_UPLOAD_BYTES:
            await reply(interaction, f"{attachment.filename} is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
            return

        if not interaction.response.is_done():
            await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            data = await attachment.read()
        except discord.HTTPException as exc:
            await reply(interaction, f"Could not download {attachment.filename}: {exc}")
            return
        try:
            wav = await asyncio.to_thread(prepare_voice_clip, data, attachment.filename)
        except VoiceClipError as exc:
            await reply(interaction, str(exc))
            return
        try:  # into the TTS backend's library, under this guild's namespace
            await self.voices.clone(guild_id, name, wav)
        except (ProviderError, ServiceUnavailable, ValueError) as exc:
            log.warning("voice clone %r for guild %s failed: %s", name, guild_id, exc)
            await reply(interaction, f"The TTS service could not clone **{name}**: {exc}")
            return
        await reply(interaction, f"Cloned voice **{name}**. Use `/voice set name:{name}` to speak with it.")

    # -- mode / say / status -------------------------------------------------------

    @app_commands.command(name="mode", description="Reply to everything, or only when addressed by name")
    @app_commands.describe(mode="always: reply to every turn; addressed: only when called by name")
    @app_commands.guild_only()
    @admin_only()
    async def mode(self, interaction: discord.Interaction, mode: Literal["always", "addressed"]) -> None:
        if mode not in REPLY_MODES:  # Discord enforces the choices; this guards a stale client
            await reply(interaction, f"Mode must be one of: {', '.join(REPLY_MODES)}.")
            return
        await self._save_setting(interaction, "reply_mode", mode)
        await reply(interaction, f"Reply mode is now **{mode}**.")

    @app_commands.command(name="say", description="Make Parley say something in its voice channel")
    @app_commands.describe(text="What to say")
    @app_commands.guild_only()
    @admin_only()
    async def say(self, interaction: discord.Interaction, text: app_commands.Range[str, 1, SAY_MAX_CHARS]) -> None:
        if self.voice_manager.say(guild_id_of(interaction), text):
            await reply(interaction, "Saying it now.")
        else:
            await reply(interaction, "I'm not in a voice channel in this server; use `/join` first.")

    @app_commands.command(name="status", description="Parley's voice connection and latency")
    @app_commands.guild_only()
    async def status(self, interaction: discord.Interaction) -> None:
        status = self.voice_manager.status(guild_id_of(interaction))
        if status is None:
            await reply(interaction, "Not connected to a voice channel in this server. Use `/join` to bring me in.")
            return
        await reply(interaction, _format_status(status))

    # -- owner: publish the commands -----------------------------------------------

    @commands.command(name="sync", hidden=True)
    @commands.is_owner()
    async def sync_commands(self, ctx: commands.Context, scope: str | None = None) -> None:
        """`sync`: this server only (instant, for testing); `sync global`: everywhere (may take an hour to show)."""
        if scope == "global":
            synced = await self.bot.tree.sync()
            await ctx.send(f"Synced {len(synced)} commands globally.")
        elif scope is None and ctx.guild is not None:
            self.bot.tree.copy_global_to(guild=ctx.guild)
            synced = await self.bot.tree.sync(guild=ctx.guild)
            await ctx.send(f"Synced {len(synced)} commands to this server.")
        else:
            await ctx.send("Usage: `sync` (in a server) or `sync global`.")
