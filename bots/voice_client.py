"""discord.py's VoiceClient, extended to listen.

discord.py 2.7.1 has no voice receive, so this uses its private hooks (hence
the exact version pin): the voice websocket hook for READY (op 2, a new voice
session), SPEAKING (op 5, user <-> SSRC) and CLIENT_DISCONNECT (op 13), the
connection's socket listener for raw UDP packets, and the connection's
transport key, mode and DAVE session, read afresh for every packet because a
reconnect changes them.

The connection's life: discord.py leaves and rejoins by itself on most voice
close codes (4006, 4015, a server change), and a voice-state update showing the
bot "gone" is part of that. Only `cleanup()` means the connection is over; the
close listeners run then, and nowhere else. Where discord.py's own rejoin or
resume would fail, bots/voice_connection.py steps in.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import discord
from discord.voice_state import VoiceConnectionState

from bots.speaker_map import SpeakerMap
from bots.voice_connection import ListeningConnectionState
from bots.voice_packet import OPUS_SILENCE
from bots.voice_receive import TransportKeys, VoiceReceiver

log = logging.getLogger(__name__)

READY = 2
SESSION_DESCRIPTION = 4
SPEAKING = 5
CLIENT_DISCONNECT = 13
KEEPALIVE_S = 15.0  # without outbound UDP for ~60 s Discord stops sending us audio
KEEPALIVE_TICK_S = 0.5
SPEAK_POLL_S = 0.05


class ListeningVoiceClient(discord.VoiceClient):
    def __init__(self, client: discord.Client, channel: discord.abc.Connectable) -> None:
        # Before super().__init__: the handshake's SPEAKING messages must find the map.
        self.speakers = SpeakerMap()
        self.receiver: VoiceReceiver | None = None
        self.send_stats: Counter[str] = Counter()
        self._send_lock = threading.Lock()  # the player thread and the keepalive share sequence/nonce counters
        self._last_send = 0.0
        self._keepalive_due = True
        self._keepalive: asyncio.Task[None] | None = None
        self._close_listeners: list[Callable[[], None]] = []
        self._closed = False
        super().__init__(client, channel)

    def create_connection_state(self) -> VoiceConnectionState:
        return ListeningConnectionState(self, hook=self._voice_ws_hook)

    async def _voice_ws_hook(self, ws: Any, msg: dict[str, Any]) -> None:
        # This runs inside discord.py's voice websocket reader: an exception here would stop it
        # reading (no more DAVE commits, no heartbeats), so nothing may escape.
        try:
            self._on_voice_message(msg)
        except Exception:
            log.exception("Parley's voice websocket hook failed on op %s; the connection carries on", msg.get("op"))

    def _on_voice_message(self, msg: dict[str, Any]) -> None:
        op, data = msg.get("op"), msg.get("d") or {}
        if op == READY:  # a new voice session (join, reconnect, move): SSRCs of another channel are void
            self.speakers.enter_channel(getattr(self.channel, "id", None))
        elif op == SESSION_DESCRIPTION:  # new transport keys: tell Discord at once that we are here
            self._keepalive_due = True
        elif op == SPEAKING and "user_id" in data:
            self.speakers.map(int(data["ssrc"]), int(data["user_id"]))
        elif op == CLIENT_DISCONNECT:
            self.speakers.forget_user(int(data["user_id"]))

    # ----- what the receive path reads ----------------------------------------------

    @property
    def e2ee_required(self) -> bool:
        return self._connection.dave_protocol_version > 0

    def transport_keys(self) -> TransportKeys | None:
        connection = self._connection
        key = connection.secret_key
        if not key or key is discord.utils.MISSING or not self.is_connected():
            return None
        return TransportKeys(bytes(key), connection.mode, connection.ssrc, connection.dave_session, self.e2ee_required)

    def can_speak(self) -> bool:
        """Connected, and our audio will be end-to-end encrypted where the channel requires it."""
        return self.is_connected() and (not self.e2ee_required or self._connection.can_encrypt)

    async def wait_until_can_speak(self) -> None:
        """Hold playback until we are in the encryption group: anything earlier would go out in the clear."""
        while not self.can_speak():
            await asyncio.sleep(SPEAK_POLL_S)

    # ----- sending ------------------------------------------------------------------

    def send_audio_packet(self, data: bytes, *, encode: bool = True) -> None:
        if self.e2ee_required and not self._connection.can_encrypt and (encode or data != OPUS_SILENCE):
            self.send_stats["unencrypted_refused"] += 1  # e.g. a DAVE re-key mid-reply: drop, never leak
            return
        with self._send_lock:
            super().send_audio_packet(data, encode=encode)
            self._last_send = time.monotonic()

    def listen(self, receiver: VoiceReceiver) -> None:
        self.receiver = receiver
        self._connection.add_socket_listener(receiver.on_socket_packet)
        self._keepalive_due = True  # one silence frame now: Discord sends audio only to clients it has heard
        if self._keepalive is None:
            self._keepalive = self.loop.create_task(self._keep_alive(), name=f"discord-keepalive-{self.guild.id}")

    async def _keep_alive(self) -> None:
        while True:
            quiet = time.monotonic() - self._last_send >= KEEPALIVE_S
            if (self._keepalive_due or quiet) and self.is_connected() and not self.is_playing():
                try:
                    self.send_audio_packet(OPUS_SILENCE, encode=False)
                    self.send_stats["keepalive"] += 1
                    self._keepalive_due = False
                except Exception:  # a reconnect in progress; the next tick tries again
                    log.debug("voice keepalive failed", exc_info=True)
            await asyncio.sleep(KEEPALIVE_TICK_S)

    # ----- the end ------------------------------------------------------------------

    def add_close_listener(self, listener: Callable[[], None]) -> None:
        """`listener()` runs once, on the event loop, when the connection is over for good."""
        self._close_listeners.append(listener)

    def cleanup(self) -> None:
        super().cleanup()
        if self._closed:  # discord.py calls cleanup() twice on a plain disconnect()
            return
        self._closed = True
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        if self.receiver is not None:
            self._connection.remove_socket_listener(self.receiver.on_socket_packet)
        for listener in self._close_listeners:
            try:
                listener()
            except Exception:
                log.exception("a voice close listener failed")
