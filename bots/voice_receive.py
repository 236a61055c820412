"""Discord voice receive: UDP packets -> each speaker's 48 kHz PCM, on the event loop.

discord.py reads the voice socket on its own thread and calls our listener
there. That listener only hands the bytes to the event loop
(`call_soon_threadsafe`): all state (the SSRC map, the Opus decoders, the DAVE
session, the counters) is touched on the loop alone, so nothing needs a lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from discord import opus

from agent_core import telemetry
from agent_core.audio.frames import AudioFrame
from bots.voice_packet import Drop, VoicePacket, decode

log = logging.getLogger(__name__)

DISCORD_RATE = 48000
MAX_CONCEALED_FRAMES = 5  # a longer gap is silence, not loss worth concealing


@dataclass(frozen=True)
class TransportKeys:
    """What decryption needs, read afresh for every packet: a reconnect changes the key."""

    secret_key: bytes
    mode: str
    own_ssrc: int | None
    dave_session: Any


class VoiceReceiver:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        keys: Callable[[], TransportKeys | None],
        on_audio: Callable[[int, AudioFrame], None],
        is_ignored: Callable[[int], bool] = lambda user_id: False,
    ) -> None:
        self._loop = loop
        self._keys = keys
        self._on_audio = on_audio
        self._is_ignored = is_ignored
        self.ssrc_to_user: dict[int, int] = {}
        self._decoders: dict[int, opus.Decoder] = {}
        self._last_sequence: dict[int, int] = {}
        self.stats: Counter[str] = Counter()
        opus._load_default()

    # ----- the reader thread ----------------------------------------------------

    def on_socket_packet(self, data: bytes) -> None:
        """Called by discord.py's socket reader thread: hand over, nothing else."""
        try:
            self._loop.call_soon_threadsafe(self.handle_packet, data)
        except RuntimeError:  # the loop closed under us: the bot is shutting down
            pass

    # ----- SSRC <-> user, from the voice gateway ---------------------------------

    def map_speaker(self, ssrc: int, user_id: int) -> None:
        """op 5 SPEAKING: this SSRC is this user."""
        previous = self.ssrc_to_user.get(ssrc)
        if previous != user_id:
            self.ssrc_to_user[ssrc] = user_id
            self._decoders.pop(ssrc, None)  # a re-used SSRC must not inherit decoder state

    def forget_user(self, user_id: int) -> None:
        """op 13 CLIENT_DISCONNECT: the user left; their SSRCs are free again."""
        for ssrc in [s for s, u in self.ssrc_to_user.items() if u == user_id]:
            del self.ssrc_to_user[ssrc]
            self._decoders.pop(ssrc, None)
            self._last_sequence.pop(ssrc, None)

    # ----- the loop ---------------------------------------------------------------

    def handle_packet(self, data: bytes) -> None:
        keys = self._keys()
        if keys is None:  # not connected yet, or between reconnects
            self.stats["no_key"] += 1
            return
        result = decode(
            data,
            secret_key=keys.secret_key,
            mode=keys.mode,
            dave_session=keys.dave_session,
            user_for_ssrc=self.ssrc_to_user.get,
            own_ssrc=keys.own_ssrc,
        )
        if isinstance(result, Drop):
            self.stats[result.value] += 1
            telemetry.FRAMES_DROPPED.labels("discord", result.value).inc()
            return
        if result.user_id is None:
            self.stats[Drop.UNMAPPED.value] += 1  # SPEAKING not seen yet: we cannot say who it is
            telemetry.FRAMES_DROPPED.labels("discord", Drop.UNMAPPED.value).inc()
            return
        if self._is_ignored(result.user_id):
            self.stats["ignored_user"] += 1
            return
        for pcm in self._decode_opus(result):
            self._on_audio(result.user_id, pcm)
        self.stats["frames"] += 1

    def _decode_opus(self, packet: VoicePacket) -> list[AudioFrame]:
        decoder = self._decoders.get(packet.ssrc)
        if decoder is None:
            decoder = self._decoders[packet.ssrc] = opus.Decoder()
        frames: list[bytes] = []
        last = self._last_sequence.get(packet.ssrc)
        if last is not None:
            lost = (packet.sequence - last - 1) & 0xFFFF
            if lost > 0x8000:  # older than the last one: late or duplicate
                self.stats["late"] += 1
                return []
            if lost:
                self.stats["lost"] += lost
                for _ in range(min(lost, MAX_CONCEALED_FRAMES)):
                    frames.append(decoder.decode(None))  # Opus packet-loss concealment
        self._last_sequence[packet.ssrc] = packet.sequence
        try:
            frames.append(decoder.decode(packet.opus))
        except opus.OpusError:
            self.stats["opus_failed"] += 1
        return [_to_mono(pcm) for pcm in frames]


def _to_mono(stereo_pcm: bytes) -> AudioFrame:
    samples = np.frombuffer(stereo_pcm, dtype="<i2").reshape(-1, 2).astype(np.int32)
    return AudioFrame(((samples[:, 0] + samples[:, 1]) >> 1).astype("<i2").tobytes(), DISCORD_RATE)
