"""A voice channel without Discord's servers: fake guild/voice client edges, real receive and player."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

from discord.player import AudioPlayer

from bots.speaker_map import SpeakerMap
from bots.voice_receive import TransportKeys
from tests.discord.voicekit import KEY, FakeDave, rtp_packet


class FakeGuild:
    def __init__(self, members: dict[int, tuple[str, bool]]) -> None:
        self.id = 4242
        self._members = {uid: SimpleNamespace(id=uid, display_name=name, bot=is_bot) for uid, (name, is_bot) in members.items()}

    def get_member(self, user_id: int):
        return self._members.get(user_id)


class FakeVoice:
    """The parts of ListeningVoiceClient a ChannelConversation uses; playback runs discord.py's real AudioPlayer."""

    def __init__(self, guild: FakeGuild, bot_user_id: int, dave: FakeDave | None = None) -> None:
        self.guild = guild
        self.user = SimpleNamespace(id=bot_user_id)
        self.channel = SimpleNamespace(name="General")
        self.receiver = None
        self.speakers = SpeakerMap()
        self.dave = dave
        self.sent: list[tuple[float, bytes]] = []
        self._player: AudioPlayer | None = None
        self.client = SimpleNamespace(loop=asyncio.get_running_loop())
        self.ws = self
        self.timeout = 1.0

    # ListeningVoiceClient
    def transport_keys(self) -> TransportKeys:
        return TransportKeys(KEY, "aead_xchacha20_poly1305_rtpsize", 999, self.dave)

    def listen(self, receiver) -> None:
        self.receiver = receiver

    def is_connected(self) -> bool:
        return True

    async def wait_until_can_speak(self) -> None:
        pass

    def is_playing(self) -> bool:
        return self._player is not None and self._player.is_playing()

    def play(self, source, *, after=None) -> None:
        self._player = AudioPlayer(source, self, after=after)
        self._player.start()

    def stop(self) -> None:
        if self._player is not None:
            self._player.stop()

    async def disconnect(self, *, force: bool = False) -> None:
        """Stop playing, as discord.py's does; also wait out the player's thread and its last speak()
        call, so nothing of it runs once the test's event loop has closed."""
        if self._player is not None:
            self._player.stop()
            await asyncio.to_thread(self._player.join, 5)
            await asyncio.sleep(0.05)  # the speak() the player scheduled from its thread

    # what AudioPlayer calls
    async def speak(self, state) -> None:
        pass

    def send_audio_packet(self, data: bytes, *, encode: bool = True) -> None:
        self.sent.append((time.perf_counter(), data))

    # the far side: members talking
    async def member_speaks(self, ssrc: int, user_id: int, opus_frames: list[bytes], *, realtime: bool = False) -> None:
        """op 5 SPEAKING, then their packets from the socket reader thread, 20 ms apart in real time."""
        self.receiver.map_speaker(ssrc, user_id)
        packets = [
            rtp_packet(FakeDave.encrypt(f) if self.dave else f, ssrc=ssrc, sequence=i, timestamp=960 * i, counter=i, padding=2)
            for i, f in enumerate(opus_frames)
        ]

        def reader_thread():
            start = time.perf_counter()
            for index, packet in enumerate(packets):
                self.receiver.on_socket_packet(packet)
                if realtime:
                    time.sleep(max(0.0, start + (index + 1) * 0.02 - time.perf_counter()))

        thread = threading.Thread(target=reader_thread)
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.01)
