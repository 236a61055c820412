"""The contract between the slash commands and the voice side.

The commands (bots/commands.py) only talk to a `VoiceManager`; the voice side
implements it. Keeping the contract here lets either side be tested alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import discord


class VoiceError(Exception):
    """A user-facing reason a voice action failed (e.g. missing Connect permission)."""


@dataclass
class GuildVoiceStatus:
    channel_name: str
    state: str  # listening / thinking / speaking
    speakers_heard: list[str]  # display names
    last_turn_latency_ms: dict[str, float | None] | None
    dropped_frames: dict[str, int]  # e.g. {"unmapped_ssrc": 3, "dave_failed": 0, "transport_failed": 0, "not_voice": 0}
    reply_mode: str
    decrypt_failure_ratio: float | None = None  # the last minute's share of packets that failed to decrypt


class VoiceManager(Protocol):
    async def join(self, guild: discord.Guild, channel: discord.VoiceChannel | discord.StageChannel) -> None:
        """Connect (or move) to `channel` and start listening; raises VoiceError."""
        ...

    async def leave(self, guild: discord.Guild) -> bool:
        """Disconnect; False when not connected."""
        ...

    def say(self, guild_id: int, text: str) -> bool:
        """Queue `text` to be spoken; False when not connected."""
        ...

    def status(self, guild_id: int) -> GuildVoiceStatus | None:
        """None when not connected in that guild."""
        ...

    async def apply_settings(self, guild_id: int) -> None:
        """Re-read the guild's settings from the database into a live conversation (no-op when not connected)."""
        ...
