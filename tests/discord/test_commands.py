"""The slash commands, invoked through the real CommandTree (see commandkit.py for how interactions are built)."""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest
from discord.ext import commands
from prometheus_client import REGISTRY

from agent_core.errors import ProviderError
from bots.voice_manager import GuildVoiceStatus, VoiceError
from tests.discord.commandkit import (
    ADMIN,
    BOT,
    EPHEMERAL,
    GUILD,
    LISTENER,
    MANAGE_GUILD,
    MEMBER,
    OWNER,
    TEXT,
    VOICE,
    Harness,
    assert_ephemeral_message,
    attachment,
    message_payload,
    needs_ffmpeg,
    opt,
    start_harness,
    wav_tone,
)


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = await start_harness(tmp_path)
    yield harness
    await harness.db.close()


# -- permissions ---------------------------------------------------------------------------------

ADMIN_COMMANDS = [
    ("join", ()),
    ("leave", ()),
    ("persona set", (opt("name", "pirate"),)),
    ("voice set", (opt("name", "voice01"),)),
    ("voice clone", (opt("name", "mine"), attachment("a.wav", 1000)[0])),
    ("voice style", (opt("speed", 1.2, type=10),)),
    ("mode", (opt("mode", "addressed"),)),
    ("say", (opt("text", "hello"),)),
    ("config set", (opt("key", "wake_name"), opt("value", "Robo"))),
]


@pytest.mark.parametrize(("path", "options"), ADMIN_COMMANDS, ids=[p for p, _ in ADMIN_COMMANDS])
async def test_member_without_manage_guild_is_refused(h: Harness, path: str, options: tuple[dict, ...]) -> None:
    refusals = REGISTRY.get_sample_value("parley_refusals_total", {"reason": "not_admin"}) or 0.0
    sent = await h.run(path, *options, uid=MEMBER, perms=0, resolved=attachment("a.wav", 1000)[1])
    assert len(sent.sent) == 1 and sent.sent[0]["type"] == 4
    assert_ephemeral_message(sent.sent[0])
    assert "Manage Server" in sent.last_text()
    assert REGISTRY.get_sample_value("parley_refusals_total", {"reason": "not_admin"}) == refusals + 1
    assert await h.settings() == {}
    assert h.voice.calls == [] and h.downloads == []


async def test_admin_commands_declare_manage_guild(h: Harness) -> None:
    by_name = {c.qualified_name: c for c in h.bot.tree.walk_commands()}
    for path, _ in ADMIN_COMMANDS:
        assert by_name[path].default_permissions == discord.Permissions(manage_guild=True), path
    for path in ["persona show", "voice list", "status", "config show"]:
        assert by_name[path].default_permissions is None, path
        assert by_name[path].checks == [], path
    # Discord reads default permissions from top-level commands only: there they must be set.
    top = {c.name: c.to_dict(h.bot.tree) for c in h.bot.tree.get_commands()}
    for name in ["join", "leave", "mode", "say"]:
        assert top[name]["default_member_permissions"] == MANAGE_GUILD
    assert all(cmd["dm_permission"] is False for cmd in top.values())


# -- /voice style ---------------------------------------------------------------------------------


async def test_voice_style_is_stored_merged_applied_and_shown(h: Harness) -> None:
    h.tts.style_knobs = ("speed",)  # a Piper-like backend: the reply says what it ignores
    await h.run("voice style", opt("exaggeration", 0.9, type=10), opt("speed", 1.25, type=10))
    assert_ephemeral_message(h.recorder.sent[0])
    assert await h.settings() == {"style": {"exaggeration": 0.9, "speed": 1.25}}
    assert h.voice.calls == [("apply_settings", GUILD)]
    assert "`speed` 1.25" in h.recorder.last_text() and "`exaggeration` 0.9" in h.recorder.last_text()
    assert "(library-tts) ignores: exaggeration, cfg_weight, temperature" in h.recorder.last_text()
    await h.run("voice style", opt("temperature", 0.6, type=10))  # one knob changes, the others stay
    assert await h.settings() == {"style": {"exaggeration": 0.9, "speed": 1.25, "temperature": 0.6}}
    await h.run("voice style")  # no option: show only
    assert "`temperature` 0.6" in h.recorder.last_text() and len(h.voice.calls) == 2
    await h.run("voice style", opt("reset", True, type=5))
    assert await h.settings() == {"style": {}}
    assert "nothing set" in h.recorder.last_text()


async def test_voice_style_declares_speech_api_ranges_and_refuses_values_outside_them(h: Harness) -> None:
    [style] = [c for c in h.bot.tree.walk_commands() if c.qualified_name == "voice style"]
    options = {o["name"]: o for o in style.to_dict(h.bot.tree)["options"]}
    assert (options["speed"]["min_value"], options["speed"]["max_value"]) == (0.25, 4.0)
    assert (options["exaggeration"]["min_value"], options["exaggeration"]["max_value"]) == (0.0, 2.0)
    assert (options["cfg_weight"]["min_value"], options["cfg_weight"]["max_value"]) == (0.0, 1.0)
    assert (options["temperature"]["min_value"], options["temperature"]["max_value"]) == (0.05, 2.0)
    # Discord enforces them; a stale or forged client is refused here too
    await h.run("voice style", opt("exaggeration", 5.0, type=10))
    assert "`exaggeration` must be from 0 to 2." in h.recorder.last_text()
    assert await h.settings() == {} and h.voice.calls == []


# -- persona / mode / config -----------------------------------------------------------------------


async def test_persona_set_persists_and_applies(h: Harness) -> None:
    sent = await h.run("persona set", opt("name", "pirate"))
    assert_ephemeral_message(sent.sent[0])
    assert "pirate" in sent.last_text()
    assert await h.settings() == {"persona": "pirate"}
    assert h.voice.calls == [("apply_settings", GUILD)]
    await h.run("persona show", uid=MEMBER, perms=0)
    assert "**pirate**" in h.recorder.last_text()


async def test_persona_set_unknown_is_refused(h: Harness) -> None:
    await h.run("persona set", opt("name", "ghost"))
    assert "Unknown persona" in h.recorder.last_text() and "pirate" in h.recorder.last_text()
    assert await h.settings() == {} and h.voice.calls == []


async def test_mode_addressed(h: Harness) -> None:
    await h.run("mode", opt("mode", "addressed"))
    assert await h.settings() == {"reply_mode": "addressed"}
    assert h.voice.calls == [("apply_settings", GUILD)]


@pytest.mark.parametrize(
    ("key", "value", "stored"),
    [
        ("reply_mode", "always", "always"),
        ("persona", "poet", "poet"),
        ("voice", "voice07", "voice07"),
        ("end_of_turn_silence_ms", "700", 700),
        ("end_of_turn_signals", "Silence", "silence"),
        ("incomplete_max_silence_ms", "3000", 3000),
        ("allow_interruptions", "off", False),
        ("allow_interruptions", "Yes", True),
        ("wake_name", "Robo", "Robo"),
    ],
)
async def test_config_set_valid(h: Harness, key: str, value: str, stored: Any) -> None:
    await h.run("config set", opt("key", key), opt("value", value))
    assert_ephemeral_message(h.recorder.sent[0])
    assert await h.settings() == {key: stored}
    assert h.voice.calls == [("apply_settings", GUILD)]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("volume", "11", "Unknown setting `volume`. Allowed keys: `reply_mode`"),
        ("reply_mode", "sometimes", "always or addressed"),
        ("persona", "ghost", "default, pirate, poet"),
        ("voice", "nope", "voice00"),
        ("end_of_turn_silence_ms", "100", "integer from 200 to 3000"),
        ("end_of_turn_silence_ms", "abc", "integer from 200 to 3000"),
        ("end_of_turn_signals", "vibes", "silence or audio or text or audio+text"),
        ("allow_interruptions", "maybe", "true/false"),
        ("wake_name", "x" * 33, "1-32 characters"),
    ],
)
async def test_config_set_invalid(h: Harness, key: str, value: str, expected: str) -> None:
    await h.run("config set", opt("key", key), opt("value", value))
    assert_ephemeral_message(h.recorder.sent[0])
    assert expected in h.recorder.last_text()
    assert await h.settings() == {} and h.voice.calls == []


async def test_config_show(h: Harness) -> None:
    await h.db.set_guild_setting(GUILD, "allow_interruptions", False)
    await h.db.set_guild_setting(GUILD, "end_of_turn_silence_ms", 900)
    await h.run("config show", uid=MEMBER, perms=0)
    text = h.recorder.last_text()
    assert_ephemeral_message(h.recorder.sent[0])
    assert "`allow_interruptions`: false" in text and "`end_of_turn_silence_ms`: 900" in text
    assert "`wake_name`: (default)" in text


# -- autocomplete --------------------------------------------------------------------------------


async def test_autocomplete_is_filtered_and_capped(h: Harness) -> None:
    await h.run("voice set", opt("name", "", focused=True), type=4)
    first = h.recorder.sent[-1]
    assert first["type"] == 8 and len(first["data"]["choices"]) == 25
    await h.run("voice set", opt("name", "VOICE1", focused=True), type=4)
    assert [c["value"] for c in h.recorder.sent[-1]["data"]["choices"]] == [f"voice1{i}" for i in range(10)]
    await h.run("persona set", opt("name", "p", focused=True), uid=MEMBER, perms=0, type=4)
    assert [c["name"] for c in h.recorder.sent[-1]["data"]["choices"]] == ["pirate", "poet"]
    await h.run("config set", opt("key", "reply_mode"), opt("value", "a", focused=True), type=4)
    assert [c["value"] for c in h.recorder.sent[-1]["data"]["choices"]] == ["always", "addressed"]


# -- voice clone / set / list -----------------------------------------------------------------------


@needs_ffmpeg
async def test_voice_clone_uploads_a_24k_mono_clip_to_the_backend_under_the_guild(h: Harness) -> None:
    h.attachment_bytes = wav_tone(4)
    option, resolved = attachment("me.wav", len(h.attachment_bytes))
    sent = await h.run("voice clone", opt("name", "narrator"), option, resolved=resolved)
    assert sent.sent[0] == {"type": 5, "data": {"flags": EPHEMERAL}}  # deferred, ephemeral
    assert_ephemeral_message(sent.sent[-1])
    assert "Cloned voice **narrator**" in sent.last_text()
    assert list(h.tts.clones) == [f"guild-{GUILD}/narrator"]  # in the backend's library, namespaced
    with wave.open(io.BytesIO(h.tts.clones[f"guild-{GUILD}/narrator"]), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24000, 1, 2)
    await h.run("voice set", opt("name", "narrator"))
    assert await h.settings() == {"voice": "narrator"}
    await h.run("voice list", uid=MEMBER, perms=0)
    assert "Cloned for this server: narrator" in h.recorder.last_text()
    assert "guild-" not in h.recorder.last_text()


async def test_another_guilds_clones_are_neither_listed_nor_settable(h: Harness) -> None:
    h.tts.voices.append(f"guild-{GUILD + 1}/theirs")
    await h.run("voice list", uid=MEMBER, perms=0)
    assert "theirs" not in h.recorder.last_text() and "Cloned for this server" not in h.recorder.last_text()
    await h.run("voice set", opt("name", "theirs"))
    assert "Unknown voice `theirs`" in h.recorder.last_text()
    await h.run("voice set", opt("name", f"guild-{GUILD + 1}/theirs"))
    assert "Unknown voice" in h.recorder.last_text()
    assert await h.settings() == {}


async def test_voice_clone_when_backend_cannot_clone_says_so_before_downloading(h: Harness) -> None:
    h.tts.can_clone = False
    option, resolved = attachment("me.wav", 1000)
    await h.run("voice clone", opt("name", "narrator"), option, resolved=resolved)
    assert "The active TTS backend (library-tts) cannot clone voices." in h.recorder.last_text()
    assert h.downloads == [] and h.tts.clones == {} and h.tts.refreshes == 1  # asked the backend again first
    await h.run("voice set", opt("name", "narrator"))
    assert "Unknown voice `narrator`" in h.recorder.last_text()
    assert await h.settings() == {}


@needs_ffmpeg
async def test_voice_clone_asks_again_a_tts_service_that_was_cold_at_start(h: Harness) -> None:
    h.tts.can_clone, h.tts.can_clone_after_refresh = False, True
    h.attachment_bytes = wav_tone(4)
    option, resolved = attachment("me.wav", len(h.attachment_bytes))
    sent = await h.run("voice clone", opt("name", "narrator"), option, resolved=resolved)
    assert sent.sent[0] == {"type": 5, "data": {"flags": EPHEMERAL}}  # deferred once, before asking
    assert "Cloned voice **narrator**" in sent.last_text() and list(h.tts.clones) == [f"guild-{GUILD}/narrator"]


@needs_ffmpeg
async def test_voice_clone_reports_a_failed_upload(h: Harness) -> None:
    h.tts.clone_error = ProviderError("tts", "POST /v1/voices: HTTP 503 cold start")
    h.attachment_bytes = wav_tone(4)
    option, resolved = attachment("me.wav", len(h.attachment_bytes))
    await h.run("voice clone", opt("name", "narrator"), option, resolved=resolved)
    assert "could not clone **narrator**" in h.recorder.last_text() and "HTTP 503" in h.recorder.last_text()
    await h.run("voice list", uid=MEMBER, perms=0)
    assert "narrator" not in h.recorder.last_text()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (wav_tone(1), "needs at least 3 s"),
        (b"definitely not audio", "not a supported audio file"),
    ],
)
async def test_voice_clone_rejects_bad_clips(h: Harness, data: bytes, expected: str) -> None:
    h.attachment_bytes = data
    option, resolved = attachment("me.wav", len(data))
    await h.run("voice clone", opt("name", "narrator"), option, resolved=resolved)
    assert h.recorder.sent[0]["type"] == 5
    assert_ephemeral_message(h.recorder.sent[-1])
    assert expected in h.recorder.last_text()
    assert h.tts.clones == {}


async def test_voice_clone_rejects_bad_names_before_downloading(h: Harness) -> None:
    option, resolved = attachment("me.wav", 100)
    await h.run("voice clone", opt("name", "no spaces please"), option, resolved=resolved)
    assert "1-32 letters" in h.recorder.last_text() and h.downloads == []


# -- join / leave / say / status --------------------------------------------------------------------


async def test_join_without_channel_when_member_not_in_voice(h: Harness) -> None:
    await h.run("join")
    assert h.recorder.sent[0]["type"] == 4
    assert_ephemeral_message(h.recorder.sent[0])
    assert "join a voice channel first" in h.recorder.last_text()
    assert h.voice.calls == []


async def test_join_defaults_to_the_members_channel_and_defers(h: Harness) -> None:
    await h.run("join", uid=LISTENER)
    assert h.recorder.sent[0] == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert h.voice.calls == [("join", GUILD, VOICE)]
    assert h.recorder.sent[-1]["followup"] and f"<#{VOICE}>" in h.recorder.last_text()


async def test_join_named_channel_reports_voice_errors(h: Harness) -> None:
    h.voice.join_error = VoiceError("I lack the Connect permission in Lounge.")
    resolved = {"channels": {str(VOICE): {"id": str(VOICE), "name": "Lounge", "type": 2, "permissions": "0"}}}
    await h.run("join", opt("channel", str(VOICE), type=7), resolved=resolved)
    assert h.voice.calls == [("join", GUILD, VOICE)]
    assert "Connect permission" in h.recorder.last_text()
    assert_ephemeral_message(h.recorder.sent[-1])


async def test_leave_and_say_when_not_connected(h: Harness) -> None:
    await h.run("leave")
    assert h.recorder.sent[0]["type"] == 5 and "not in a voice channel" in h.recorder.last_text()
    await h.run("say", opt("text", "hello"))
    assert "not in a voice channel" in h.recorder.last_text()
    h.voice.connected = True
    await h.run("say", opt("text", "hello there"))
    assert h.voice.calls[-1] == ("say", GUILD, "hello there") and "Saying" in h.recorder.last_text()


async def test_status_not_connected_and_connected(h: Harness) -> None:
    await h.run("status", uid=MEMBER, perms=0)
    assert_ephemeral_message(h.recorder.sent[0])
    assert "Not connected" in h.recorder.last_text()
    h.voice.current = GuildVoiceStatus(
        channel_name="Lounge",
        state="listening",
        speakers_heard=["Ada", "Lin"],
        last_turn_latency_ms={"stt": 120.4, "llm": 340.0, "tts": None},
        dropped_frames={"unmapped_ssrc": 3, "dave_failed": 0},
        reply_mode="addressed",
    )
    await h.run("status", uid=MEMBER, perms=0)
    text = h.recorder.last_text()
    assert "Lounge (listening)" in text and "Ada, Lin" in text and "addressed" in text
    assert "stt 120 ms · llm 340 ms · tts —" in text and "unmapped_ssrc 3 · dave_failed 0" in text


# -- the owner's sync prefix command -------------------------------------------------------------------


async def test_sync_is_owner_only(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[Any] = []
    said: list[str] = []

    async def fake_sync(*, guild: discord.abc.Snowflake | None = None) -> list:
        synced.append(guild.id if guild else "global")
        return []

    async def send_message(channel_id: int, *, params: Any) -> dict:
        said.append(params.payload["content"])
        return message_payload(params.payload["content"], author_id=BOT)

    monkeypatch.setattr(h.bot.tree, "sync", fake_sync)
    monkeypatch.setattr(h.bot.http, "send_message", send_message)
    channel = h.bot.get_channel(TEXT)
    errors: list[Exception] = []

    async def on_command_error(ctx: commands.Context, error: Exception) -> None:
        errors.append(error)

    h.bot.add_listener(on_command_error)

    async def say_to_bot(author: int, text: str) -> commands.Context:
        data = {**message_payload(f"<@{BOT}> {text}", author_id=author), "guild_id": str(GUILD)}
        ctx = await h.bot.get_context(discord.Message(state=h.bot._connection, channel=channel, data=data))
        await h.bot.invoke(ctx)
        await asyncio.sleep(0)  # let the dispatched error event run
        return ctx

    ctx = await say_to_bot(ADMIN, "sync")  # a server admin is still not the owner
    assert ctx.command is not None and ctx.command.name == "sync"
    assert [type(e) for e in errors] == [commands.NotOwner]
    with pytest.raises(commands.NotOwner):
        await ctx.command.can_run(ctx)
    assert synced == [] and said == []

    await say_to_bot(OWNER, "sync")
    await say_to_bot(OWNER, "sync global")
    assert synced == [GUILD, "global"]
    assert said == ["Synced 0 commands to this server.", "Synced 0 commands globally."]
    assert len(errors) == 1
    assert h.bot.tree.get_commands(guild=discord.Object(GUILD))  # global commands were copied to the guild
