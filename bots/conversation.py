"""One voice channel's conversation: everyone's audio into one Session, its voice back out.

Each member is a speaker of their own (their own VAD, turn and transcript);
the LLM sees who said what ("Alice: ..."). Bots, the bot itself included, are
not listened to. In `addressed` mode the agent only answers when its name is
spoken, though it hears (and remembers) everything.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord

from agent_core import logs, telemetry
from agent_core.audio.frames import AudioFrame
from agent_core.persona import Persona
from agent_core.providers import Providers
from agent_core.session import Session
from agent_core.session_settings import SessionSettings
from bots.decrypt_health import DecryptHealth
from bots.playback import QueuedAudioSource
from bots.voice_client import ListeningVoiceClient
from bots.voice_receive import DISCORD_RATE, VoiceReceiver

log = logging.getLogger(__name__)

REPLY_MODES = ("always", "addressed")


class ChannelConversation:
    output_sample_rate = DISCORD_RATE  # the Channel protocol: the Session speaks 48 kHz to us

    def __init__(
        self,
        voice: ListeningVoiceClient,
        providers: Providers,
        persona: Persona,
        settings: SessionSettings,
        *,
        reply_mode: str = "always",
        wake_name: str = "parley",
    ) -> None:
        self.voice = voice
        self.guild: discord.Guild = voice.guild
        logs.bind(guild_id=self.guild.id, channel_id=getattr(voice.channel, "id", None))
        loop = asyncio.get_running_loop()
        self.source = QueuedAudioSource(loop, self._played)
        self.session = Session(
            stt=providers.stt,
            llm=providers.llm,
            tts=providers.tts,
            persona=persona,
            channel=self,
            settings=settings,
            label_speakers=True,
        )
        telemetry.watch_session(self.session, "discord")
        self.receiver = VoiceReceiver(
            loop,
            keys=voice.transport_keys,
            on_audio=self._heard,
            is_ignored=self._is_ignored,
            speakers=voice.speakers,  # filled since the handshake: members already talking are known
            health=DecryptHealth(self.guild.id),
        )
        self.speakers_heard: dict[int, str] = {}
        self.set_reply_mode(reply_mode, wake_name)
        self._pump: asyncio.Task[None] | None = None

    def set_reply_mode(self, mode: str, wake_name: str) -> None:
        if mode not in REPLY_MODES:
            raise ValueError(f"reply mode must be one of {REPLY_MODES}, not {mode!r}")
        self.reply_mode, self.wake_name = mode, wake_name.lower()
        self.session.reply_filter = None if mode == "always" else self._addressed

    def _addressed(self, speaker: str, text: str) -> bool:
        return self.wake_name in text.lower()

    async def start(self) -> None:
        self.voice.listen(self.receiver)
        self._pump = asyncio.create_task(self._play_replies(), name=f"discord-out-{self.guild.id}")
        await self.session.start()

    async def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        self.receiver.health.close()
        await self.session.close()

    # ----- in ----------------------------------------------------------------

    def _is_ignored(self, user_id: int) -> bool:
        member = self.guild.get_member(user_id)
        return user_id == self.voice.user.id or (member is not None and member.bot)

    def _heard(self, user_id: int, frame: AudioFrame) -> None:
        name = self.speakers_heard.get(user_id)
        if name is None:
            member = self.guild.get_member(user_id)
            name = self.speakers_heard[user_id] = member.display_name if member else f"user {user_id}"
        self.session.push_audio(name, frame)

    # ----- out ---------------------------------------------------------------

    async def _play_replies(self) -> None:
        while True:
            chunk = await self.session.next_audio()
            if chunk.reply.finished:  # interrupted between the queue and the player
                continue
            self.source.put(chunk)
            if not self.voice.is_playing():
                await self.voice.wait_until_can_speak()  # never in the clear, and not while reconnecting
                self.source.start()
                self.voice.play(self.source, after=self._player_stopped)

    def _played(self, chunk: Any) -> None:
        self.session.audio_played(chunk)

    def _player_stopped(self, error: Exception | None) -> None:
        if error is not None:
            log.error("voice player in guild %s stopped: %s", self.guild.id, error)

    async def flush(self) -> None:
        """Barge-in: drop queued frames and stop the player at once."""
        self.source.clear()
        if self.voice.is_playing():
            self.voice.stop()
