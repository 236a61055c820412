"""A harness for the slash commands: discord.py's real CommandTree, interactions built from raw payloads.

Responses are captured by swapping discord.py's webhook adapter (the object
every interaction response and follow-up goes through) for a recorder, so the
assertions are on the exact JSON Discord would receive. The guild is a real
cached `discord.Guild` (a text channel, a voice channel, one member in voice).
"""

from __future__ import annotations

import io
import itertools
import shutil
from pathlib import Path
from typing import Any

import discord
import pytest
from discord.ext import commands
from discord.webhook.async_ import async_context
from pydub.generators import Sine

from agent_core.storage import Database
from agent_core.tts.base import TextToSpeech, namespaced_voice
from bots.commands import ParleyCommands
from bots.guild_voices import GuildVoices
from bots.voice_manager import GuildVoiceStatus, VoiceError

GUILD, TEXT, VOICE = 100, 300, 200
OWNER, ADMIN, MEMBER, LISTENER, BOT = 1, 11, 12, 13, 999
MANAGE_GUILD = discord.Permissions(manage_guild=True).value
EPHEMERAL = 64
PERSONAS = ["default", "pirate", "poet"]
VOICES = [f"voice{i:02d}" for i in range(30)]  # more than Discord's 25 autocomplete choices
_ids = itertools.count(10_000)

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


class LibraryTts(TextToSpeech):
    """A TTS backend's voice library, without the speech: clones are recorded."""

    name = "library-tts"

    def __init__(self) -> None:
        self.voices = list(VOICES)
        self.can_clone = True
        self.clones: dict[str, bytes] = {}
        self.clone_error: Exception | None = None
        self.can_clone_after_refresh: bool | None = None  # a service that was cold when the bot started
        self.refreshes = 0

    def voice_names(self) -> list[str]:
        return list(self.voices)

    async def refresh_voices(self) -> None:
        self.refreshes += 1
        if self.can_clone_after_refresh is not None:
            self.can_clone = self.can_clone_after_refresh

    async def clone_voice(self, name: str, wav_bytes: bytes, *, namespace: str | None = None) -> str:
        if self.clone_error:
            raise self.clone_error
        voice = namespaced_voice(namespace, name) if namespace else name
        self.clones[voice] = wav_bytes
        self.voices.append(voice)
        return voice

    async def synthesize(self, text, *, voice=None, style=None):
        raise AssertionError("the commands never synthesize")
        yield


class FakeVoice:
    """A VoiceManager that records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.join_error: VoiceError | None = None
        self.connected = False
        self.current: GuildVoiceStatus | None = None

    async def join(self, guild: discord.Guild, channel: discord.abc.GuildChannel) -> None:
        self.calls.append(("join", guild.id, channel.id))
        if self.join_error:
            raise self.join_error

    async def leave(self, guild: discord.Guild) -> bool:
        self.calls.append(("leave", guild.id))
        return self.connected

    def say(self, guild_id: int, text: str) -> bool:
        self.calls.append(("say", guild_id, text))
        return self.connected

    def status(self, guild_id: int) -> GuildVoiceStatus | None:
        return self.current

    async def apply_settings(self, guild_id: int) -> None:
        self.calls.append(("apply_settings", guild_id))


class Recorder:
    """Stands in for discord.py's AsyncWebhookAdapter: records interaction responses and follow-ups."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []  # in order; follow-ups are tagged {"followup": True}

    async def create_interaction_response(self, interaction_id: int, token: str, *, params: Any, **_: Any) -> dict:
        self.sent.append(params.payload)
        return {"interaction": {"id": str(interaction_id), "type": 2}}

    async def execute_webhook(self, webhook_id: int, token: str, *, payload: dict | None = None, **_: Any) -> dict:
        self.sent.append({"followup": True, **(payload or {})})
        return message_payload(payload.get("content", "") if payload else "", author_id=BOT)

    def texts(self) -> list[str]:
        return [p.get("content") or p.get("data", {}).get("content", "") for p in self.sent]

    def last_text(self) -> str:
        return self.texts()[-1]


def user(uid: int) -> dict:
    return {"id": str(uid), "username": f"user{uid}", "discriminator": "0", "global_name": None, "avatar": None}


def member(uid: int, permissions: int) -> dict:
    return {"user": user(uid), "roles": [], "joined_at": "2024-01-01T00:00:00+00:00", "deaf": False,
            "mute": False, "flags": 0, "permissions": str(permissions)}  # fmt: skip


def message_payload(content: str, *, author_id: int) -> dict:
    return {"id": str(next(_ids)), "channel_id": str(TEXT), "author": user(author_id), "content": content,
            "timestamp": "2024-01-01T00:00:00+00:00", "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
            "pinned": False, "type": 0, "flags": 0}  # fmt: skip


def guild_payload() -> dict:
    channel = {"permission_overwrites": [], "guild_id": str(GUILD), "position": 0}
    return {
        "id": str(GUILD), "name": "Test guild", "owner_id": str(OWNER), "member_count": 4, "features": [],
        "emojis": [], "stickers": [], "members": [],
        "roles": [{"id": str(GUILD), "name": "@everyone", "permissions": "0", "position": 0, "color": 0,
                   "hoist": False, "managed": False, "mentionable": False}],
        "channels": [{**channel, "id": str(TEXT), "type": 0, "name": "chat"},
                     {**channel, "id": str(VOICE), "type": 2, "name": "Lounge", "bitrate": 64000, "user_limit": 0}],
        "voice_states": [{"user_id": str(LISTENER), "channel_id": str(VOICE), "session_id": "s", "deaf": False,
                          "mute": False, "self_deaf": False, "self_mute": False, "self_video": False,
                          "suppress": False, "request_to_speak_timestamp": None}],
    }  # fmt: skip


def opt(name: str, value: Any, type: int = 3, **extra: Any) -> dict:
    return {"name": name, "type": type, "value": value, **extra}


class Harness:
    def __init__(self, bot: commands.Bot, cog: ParleyCommands, db: Database, voice: FakeVoice, tts: LibraryTts) -> None:
        self.bot, self.cog, self.db, self.voice, self.tts = bot, cog, db, voice, tts
        self.recorder = Recorder()
        self.downloads: list[str] = []
        self.attachment_bytes = b""

        async def get_from_cdn(url: str) -> bytes:
            self.downloads.append(url)
            return self.attachment_bytes

        bot.http.get_from_cdn = get_from_cdn  # type: ignore[method-assign]

    async def run(self, path: str, *options: dict, uid: int = ADMIN, perms: int = MANAGE_GUILD,
                  resolved: dict | None = None, type: int = 2) -> Recorder:  # fmt: skip
        """Invoke `/path options...` as user `uid` with channel permissions `perms`."""
        *groups, leaf = path.split()
        data: dict[str, Any] = {"name": leaf, "type": 1, "options": list(options)}
        for name in reversed(groups):
            data = {"name": name, "type": 1, "options": [data]}
        data = {**data, "id": str(next(_ids)), "resolved": resolved or {}}
        data["type"] = 1  # a chat-input command
        payload = {
            "id": str(next(_ids)), "application_id": str(BOT), "type": type, "token": "token", "version": 1,
            "guild_id": str(GUILD), "channel_id": str(TEXT), "data": data,
            "channel": {"id": str(TEXT), "type": 0, "guild_id": str(GUILD), "name": "chat", "position": 0,
                        "permission_overwrites": []},
            "member": member(uid, perms), "app_permissions": str(discord.Permissions.all().value),
            "locale": "en-US", "guild_locale": "en-US", "entitlements": [], "context": 0,
            "authorizing_integration_owners": {"0": str(GUILD)}, "attachment_size_limit": 25 * 1024 * 1024,
        }  # fmt: skip
        interaction = discord.Interaction(data=payload, state=self.bot._connection)
        token = async_context.set(self.recorder)  # type: ignore[arg-type]
        try:
            await self.bot.tree._call(interaction)
        finally:
            async_context.reset(token)
        return self.recorder

    async def settings(self) -> dict[str, Any]:
        return await self.db.get_guild_settings(GUILD)


async def start_harness(tmp_path: Path) -> Harness:
    bot = commands.Bot(command_prefix=commands.when_mentioned, intents=discord.Intents.default(), owner_id=OWNER)
    await bot._async_setup_hook()  # what login() does: binds the client to the running loop
    state = bot._connection
    state.user = discord.ClientUser(state=state, data={**user(BOT), "bot": True})
    state._add_guild_from_data(guild_payload())  # type: ignore[arg-type]
    db = Database.for_data_dir(tmp_path / "data")
    await db.migrate()
    voice = FakeVoice()
    tts = LibraryTts()
    cog = ParleyCommands(bot, voice=voice, db=db, personas=lambda: PERSONAS, voices=GuildVoices(tts))
    await bot.add_cog(cog)
    return Harness(bot, cog, db, voice, tts)


def wav_tone(seconds: float) -> bytes:
    out = io.BytesIO()
    Sine(220, sample_rate=48000).to_audio_segment(duration=seconds * 1000, volume=-12).export(out, format="wav")
    return out.getvalue()


def attachment(filename: str, size: int) -> tuple[dict, dict]:
    """The option and the `resolved` block for an uploaded file."""
    att = {"id": "555", "filename": filename, "size": size, "url": f"https://cdn.example/{filename}",
           "proxy_url": f"https://media.example/{filename}", "content_type": "audio/wav"}  # fmt: skip
    return opt("attachment", "555", type=11), {"attachments": {"555": att}}


def assert_ephemeral_message(payload: dict) -> None:
    data = payload if payload.get("followup") else payload["data"]
    assert data["flags"] & EPHEMERAL, payload
