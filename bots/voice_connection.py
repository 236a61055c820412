"""discord.py's voice connection state, adjusted where its reconnects fail: a reader left asleep, a resume that waits forever.

1. discord.py 2.7.1's SocketReader thread waits in `select()` (30 s at a time) on
   the connection's UDP socket. A rejoin (close code 4006 and others) closes that
   socket and opens a new one, but on Linux closing a socket does not wake a
   `select()` waiting on it in another thread: the reader sleeps on the dead socket,
   the new socket's IP discovery reply goes unread, and the rejoin times out. Audio
   arriving just before the close hides this on a busy channel; in a quiet one the
   bot never comes back. `shutdown()` before `close()` wakes the reader.
2. On close code 4015 discord.py resumes by asking the main gateway for the channel
   again while its state is still "connected", then waits for both answers. Discord
   sends them in no fixed order, and discord.py completes only when the server
   update comes first; otherwise it waits out its timeout and disconnects. Discord's
   resume needs neither: a new voice websocket and op 7 on the same session. And
   then discord.py waits for the new websocket to bring a transport key, which a
   resume does not (op 9 RESUMED only): the session's key carries over.
"""

from __future__ import annotations

import socket
from contextlib import suppress

from discord.gateway import DiscordVoiceWebSocket
from discord.voice_state import ConnectionFlowState, VoiceConnectionState


class ReaderWakingSocket(socket.socket):
    def close(self) -> None:
        with suppress(OSError):  # an unconnected UDP socket answers ENOTCONN, and still wakes its pollers
            self.shutdown(socket.SHUT_RDWR)
        super().close()


class ListeningConnectionState(VoiceConnectionState):
    def _create_socket(self) -> None:
        # discord.py's own (VoiceConnectionState._create_socket), with the socket above
        self.socket = ReaderWakingSocket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.setblocking(False)
        self._socket_reader.resume()

    async def _voice_connect(self, *, self_deaf: bool = False, self_mute: bool = False) -> None:
        if self.state is ConnectionFlowState.connected:
            # Only the resume after 4015 connects while connected: keep the session, token,
            # endpoint and UDP socket, and go straight to the new websocket's op 7.
            self.state = ConnectionFlowState.got_both_voice_updates
            return
        await super()._voice_connect(self_deaf=self_deaf, self_mute=self_mute)

    async def _connect_websocket(self, resume: bool) -> DiscordVoiceWebSocket:
        ws = await super()._connect_websocket(resume)
        if resume and self.secret_key:  # same session, same key; a SESSION_DESCRIPTION would replace it
            ws.secret_key = self.secret_key
        return ws
