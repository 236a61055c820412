"""Per-guild settings: which keys exist, how values are checked, `/config`, and how a change is applied.

A change is written to the database first and then pushed to the live
conversation, so it survives a restart and takes effect at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, get_args

import discord
from discord import app_commands

from agent_core.storage import Database
from agent_core.turns import EndOfTurnSignals
from bots.guild_voices import GuildVoices
from bots.voice_manager import VoiceManager

T = TypeVar("T")

REPLY_MODES = ("always", "addressed")
SILENCE_MS_RANGE = (200, 3000)
END_OF_TURN_SIGNALS: tuple[str, ...] = get_args(EndOfTurnSignals)
WAKE_NAME_MAX = 32
_TRUE = ("true", "yes", "on")
_FALSE = ("false", "no", "off")
_MAX_LISTED = 20  # names shown in an error message; Discord caps a message at 2000 characters
MAX_CHOICES = 25  # Discord's limit for autocomplete


class SettingError(ValueError):
    """A bad key or value; the message lists what is allowed."""


def _names(names: list[str]) -> str:
    if not names:
        return "none available"
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f", ... ({len(names)} in all)" if len(names) > _MAX_LISTED else "")


def allowed_values(key: str, *, personas: list[str], voices: list[str]) -> str:
    return {
        "reply_mode": " or ".join(REPLY_MODES),
        "persona": _names(personas),
        "voice": _names(voices),
        "end_of_turn_silence_ms": f"an integer from {SILENCE_MS_RANGE[0]} to {SILENCE_MS_RANGE[1]}",
        "end_of_turn_signals": " or ".join(END_OF_TURN_SIGNALS),
        "incomplete_max_silence_ms": f"an integer from {SILENCE_MS_RANGE[0]} to {SILENCE_MS_RANGE[1]}",
        "allow_interruptions": "true/false (also yes/no, on/off)",
        "wake_name": f"1-{WAKE_NAME_MAX} characters",
    }[key]


SETTING_KEYS = (
    "reply_mode",
    "persona",
    "voice",
    "end_of_turn_silence_ms",
    "end_of_turn_signals",
    "incomplete_max_silence_ms",
    "allow_interruptions",
    "wake_name",
)


def parse_setting(key: str, raw: str, *, personas: list[str], voices: list[str]) -> Any:
    """The value to store for `key`, typed (str, int or bool); raises SettingError."""
    if key not in SETTING_KEYS:
        listing = "; ".join(f"`{k}`: {allowed_values(k, personas=personas, voices=voices)}" for k in SETTING_KEYS)
        raise SettingError(f"Unknown setting `{key}`. Allowed keys: {listing}.")
    value = raw.strip()
    ok: Any = None
    if key == "reply_mode" and value.lower() in REPLY_MODES:
        ok = value.lower()
    elif key == "persona" and value in personas:
        ok = value
    elif key == "voice" and value in voices:
        ok = value
    elif key == "end_of_turn_signals" and value.lower() in END_OF_TURN_SIGNALS:
        ok = value.lower()
    elif key in ("end_of_turn_silence_ms", "incomplete_max_silence_ms"):
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is not None and SILENCE_MS_RANGE[0] <= number <= SILENCE_MS_RANGE[1]:
            ok = number
    elif key == "allow_interruptions" and value.lower() in _TRUE + _FALSE:
        ok = value.lower() in _TRUE
    elif key == "wake_name" and 1 <= len(value) <= WAKE_NAME_MAX:
        ok = value
    if ok is None:
        allowed = allowed_values(key, personas=personas, voices=voices)
        raise SettingError(f"Invalid value `{raw}` for `{key}`. Allowed: {allowed}.")
    return ok


def filter_choices(names: list[str], current: str) -> list[app_commands.Choice[str]]:
    """At most 25 choices whose name starts with what the user typed (case-insensitive)."""
    prefix = current.strip().lower()
    return [app_commands.Choice(name=n, value=n) for n in names if n.lower().startswith(prefix)][:MAX_CHOICES]


def admin_only() -> Callable[[T], T]:
    """Manage Server, twice: Discord hides the command from others, and the runtime check refuses them anyway.

    Discord honours default permissions only on top-level commands; on a
    subcommand they record intent, and the runtime check is what enforces it.
    """

    def decorate(func: T) -> T:
        func = app_commands.default_permissions(manage_guild=True)(func)
        return app_commands.checks.has_permissions(manage_guild=True)(func)

    return decorate


def guild_id_of(interaction: discord.Interaction) -> int:
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    return interaction.guild_id


async def reply(interaction: discord.Interaction, content: str) -> None:
    """An ephemeral answer, as a follow-up when the interaction was already deferred."""
    if interaction.response.is_done():
        await interaction.followup.send(content, ephemeral=True)
    else:
        await interaction.response.send_message(content, ephemeral=True)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# A mixin of ParleyCommands, a Cog: typed as one, since discord.py's command decorators want a Cog.
if TYPE_CHECKING:
    from discord.ext.commands import Cog as _CogMixin
else:
    _CogMixin = object


class ConfigCommands(_CogMixin):
    """`/config` plus the settings plumbing the other commands share; mixed into ParleyCommands."""

    voice_manager: VoiceManager
    db: Database
    personas: Callable[[], list[str]]
    voices: GuildVoices

    config_group = app_commands.Group(
        name="config", description="Show or change this server's Parley settings", guild_only=True
    )

    # -- shared plumbing -----------------------------------------------------

    def _known_voices(self, guild_id: int) -> list[str]:
        return self.voices.known(guild_id)

    async def _save_setting(self, interaction: discord.Interaction, key: str, value: Any) -> None:
        guild_id = guild_id_of(interaction)
        await self.db.set_guild_setting(guild_id, key, value)
        await self.voice_manager.apply_settings(guild_id)

    # -- /config ---------------------------------------------------------------

    @config_group.command(name="show", description="Show this server's settings")
    async def config_show(self, interaction: discord.Interaction) -> None:
        stored = await self.db.get_guild_settings(guild_id_of(interaction))
        lines = [f"`{key}`: {_show(stored[key]) if key in stored else '(default)'}" for key in SETTING_KEYS]
        await reply(interaction, "**Parley settings**\n" + "\n".join(lines))

    @config_group.command(name="set", description="Change one setting (admins)")
    @app_commands.describe(key="Setting to change", value="New value")
    @admin_only()
    async def config_set(self, interaction: discord.Interaction, key: str, value: str) -> None:
        guild_id = guild_id_of(interaction)
        try:
            parsed = parse_setting(key, value, personas=self.personas(), voices=self._known_voices(guild_id))
        except SettingError as exc:
            await reply(interaction, str(exc))
            return
        await self._save_setting(interaction, key, parsed)
        await reply(interaction, f"`{key}` is now `{_show(parsed)}`.")

    @config_set.autocomplete("key")
    async def _config_key_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return filter_choices(list(SETTING_KEYS), current)

    @config_set.autocomplete("value")
    async def _config_value_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        key = getattr(interaction.namespace, "key", None)
        if key == "reply_mode":
            names = list(REPLY_MODES)
        elif key == "persona":
            names = self.personas()
        elif key == "voice" and interaction.guild_id is not None:
            names = self._known_voices(interaction.guild_id)
        elif key == "allow_interruptions":
            names = ["true", "false"]
        else:
            names = []
        return filter_choices(names, current)
