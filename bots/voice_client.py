"""discord.py's VoiceClient, extended to listen.

discord.py 2.7.1 has no voice receive, so this uses its private hooks (hence
the exact version pin): the voice websocket hook for SPEAKING (op 5,
user <-> SSRC) and CLIENT_DISCONNECT (op 13), the connection's socket
listener for raw UDP packets, and the connection's transport key, mode and
DAVE session, read afresh for every packet because a reconnect changes them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord
from discord.voice_state import VoiceConnectionState

from bots.voice_receive import TransportKeys, VoiceReceiver

log = logging.getLogger(__name__)

SPEAKING = 5
CLIENT_DISCONNECT = 13
KEEPALIVE_S = 15.0  # without outbound UDP for ~60 s Discord stops sending us audio
SILENT_OPUS = b"\xf8\xff\xfe"


class ListeningVoiceClient(discord.VoiceClient):
    def __init__(self, client: discord.Client, channel: discord.abc.Connectable) -> None:
        self.receiver: VoiceReceiver | None = None
        super().__init__(client, channel)
        self._keepalive: asyncio.Task[None] | None = None

    def create_connection_state(self) -> VoiceConnectionState:
        return VoiceConnectionState(self, hook=self._voice_ws_hook)

    async def _voice_ws_hook(self, ws: Any, msg: dict[str, Any]) -> None:
        if self.receiver is None:
            return
        op, data = msg.get("op"), msg.get("d") or {}
        try:
            if op == SPEAKING:
                self.receiver.map_speaker(int(data["ssrc"]), int(data["user_id"]))
            elif op == CLIENT_DISCONNECT:
                self.receiver.forget_user(int(data["user_id"]))
        except (KeyError, TypeError, ValueError):
            log.debug("ignored malformed voice op %s: %s", op, data)

    def transport_keys(self) -> TransportKeys | None:
        connection = self._connection
        key = connection.secret_key
        if not key or key is discord.utils.MISSING or not self.is_connected():
            return None
        return TransportKeys(bytes(key), connection.mode, connection.ssrc, connection.dave_session)

    def listen(self, receiver: VoiceReceiver) -> None:
        self.receiver = receiver
        self._connection.add_socket_listener(receiver.on_socket_packet)
        if self._keepalive is None:
            self._keepalive = self.loop.create_task(self._keep_alive())

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_S)
            if self.is_connected() and not self.is_playing():
                try:
                    self.send_audio_packet(SILENT_OPUS, encode=False)
                except Exception:  # a reconnect in progress; the next round tries again
                    log.debug("voice keepalive failed", exc_info=True)

    async def disconnect(self, *, force: bool = False) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        if self.receiver is not None:
            self._connection.remove_socket_listener(self.receiver.on_socket_packet)
        await super().disconnect(force=force)
