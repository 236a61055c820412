"""Discord voice receive: UDP packets -> each speaker's 48 kHz PCM, on the event loop.

discord.py reads the voice socket on its own thread and calls our listener
there. That listener only hands the bytes to the event loop
(`call_soon_threadsafe`): all state (the SSRC map, the Opus decoders, the DAVE
session, the counters) is touched on the loop alone, so nothing needs a lock.
The SSRC map belongs to the voice client, which fills it from the handshake on;
the receiver adds the senders it names by their DAVE key.
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
from bots.decrypt_health import FAILURE_REASONS, DecryptHealth
from bots.speaker_map import SpeakerMap
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
    e2ee_required: bool | None = None  # None: whenever there is a DAVE session


class VoiceReceiver:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        keys: Callable[[], TransportKeys | None],
        on_audio: Callable[[int, AudioFrame], None],
        is_ignored: Callable[[int], bool] = lambda user_id: False,
        speakers: SpeakerMap | None = None,
        health: DecryptHealth | None = None,
    ) -> None:
        self._loop = loop
        self._keys = keys
        self._on_audio = on_audio
        self._is_ignored = is_ignored
        self.speakers = speakers if speakers is not None else SpeakerMap()
        self.speakers.on_change(self._reset_ssrc)
        self.health = health if health is not None else DecryptHealth(0)
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

    # ----- SSRC <-> user ------------------------------------------------------------

    def map_speaker(self, ssrc: int, user_id: int) -> None:
        self.speakers.map(ssrc, user_id)

    def forget_user(self, user_id: int) -> None:
        self.speakers.forget_user(user_id)

    def _reset_ssrc(self, ssrc: int) -> None:
        # a re-used SSRC must not inherit the previous speaker's decoder state
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
            e2ee_required=keys.e2ee_required,
            user_for_ssrc=self.speakers.user_for,
            own_ssrc=keys.own_ssrc,
        )
        if isinstance(result, VoicePacket) and result.user_id is None:
            result = Drop.UNMAPPED  # plain audio (no E2EE) before SPEAKING: we cannot say who it is
        if isinstance(result, Drop):
            self.stats[result.value] += 1
            telemetry.FRAMES_DROPPED.labels("discord", result.value).inc()
            if result.value in FAILURE_REASONS:
                self.health.failed(result.value)
            return
        self.health.opened()
        user_id = result.user_id
        assert user_id is not None  # a packet of no known speaker became Drop.UNMAPPED above
        if result.identified:
            self.stats["identified_by_dave"] += 1
            self.speakers.map(result.ssrc, user_id)
        if self._is_ignored(user_id):
            self.stats["ignored_user"] += 1
            return
        for pcm in self._decode_opus(result):
            self._on_audio(user_id, pcm)
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
                    frames.append(decoder.decode(None, fec=False))  # Opus packet-loss concealment
        self._last_sequence[packet.ssrc] = packet.sequence
        try:
            frames.append(decoder.decode(packet.opus, fec=False))
        except opus.OpusError:
            self.stats["opus_failed"] += 1
        return [_to_mono(pcm) for pcm in frames]


def _to_mono(stereo_pcm: bytes) -> AudioFrame:
    samples = np.frombuffer(stereo_pcm, dtype="<i2").reshape(-1, 2).astype(np.int32)
    return AudioFrame(((samples[:, 0] + samples[:, 1]) >> 1).astype("<i2").tobytes(), DISCORD_RATE)
