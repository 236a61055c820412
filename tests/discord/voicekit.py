"""Discord voice packets built the way Discord's clients build them, for receive tests."""

from __future__ import annotations

import struct

import davey
import nacl.secret
import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from discord import opus

from agent_core.audio import AudioFrame
from agent_core.audio.resample import resample

KEY = bytes(range(32))


def opus_frames(audio: AudioFrame) -> list[bytes]:
    """Encode as Discord clients send voice: 48 kHz stereo Opus, 20 ms per frame."""
    opus._load_default()
    encoder = opus.Encoder()
    mono = np.frombuffer(resample(audio, 48000).pcm, dtype="<i2")
    stereo = np.repeat(mono, 2).tobytes()
    frame_bytes = encoder.FRAME_SIZE
    stereo += bytes(-len(stereo) % frame_bytes)
    return [encoder.encode(stereo[i : i + frame_bytes], encoder.SAMPLES_PER_FRAME) for i in range(0, len(stereo), frame_bytes)]


class FakeDave:
    """Stands in for davey's session: frames are 'encrypted' by appending a tag and the DAVE trailer.

    decrypt() insists on seeing the trailer at the very end, as the real protocol does, so a
    receiver that leaves RTP padding on fails here exactly as it failed on Discord.
    """

    TAG = b"E2EE"

    def __init__(self, known_users: set[int]) -> None:
        self.known_users = known_users
        self.calls: list[tuple[int, bytes]] = []

    @staticmethod
    def encrypt(opus_frame: bytes) -> bytes:
        return bytes(b ^ 0x5A for b in opus_frame) + FakeDave.TAG + b"\x00\xfa\xfa"

    def can_passthrough(self, user_id: int) -> bool:
        return False

    def decrypt(self, user_id: int, media_type, frame: bytes) -> bytes:
        assert media_type == davey.MediaType.audio
        self.calls.append((user_id, frame))
        if user_id not in self.known_users:
            raise RuntimeError("no key for this sender (key change / not in the group yet)")
        if not frame.endswith(self.TAG + b"\x00\xfa\xfa"):
            raise RuntimeError("malformed DAVE frame")
        return bytes(b ^ 0x5A for b in frame[: -len(self.TAG) - 3])


def rtp_packet(
    opus_frame: bytes,
    *,
    ssrc: int,
    sequence: int,
    timestamp: int,
    counter: int,
    mode: str = "aead_xchacha20_poly1305_rtpsize",
    key: bytes = KEY,
    extension: bytes | None = None,
    padding: int = 0,
    csrcs: tuple[int, ...] = (),
) -> bytes:
    """An RTP voice packet as a Discord client sends it (rtpsize AEAD modes)."""
    first = 0x80 | (0x20 if padding else 0) | (0x10 if extension is not None else 0) | len(csrcs)
    header = bytearray(struct.pack(">BBHII", first, 0x78, sequence, timestamp, ssrc))
    for csrc in csrcs:
        header += struct.pack(">I", csrc)
    body = opus_frame
    if extension is not None:
        assert len(extension) % 4 == 0
        header += struct.pack(">HH", 0xBEDE, len(extension) // 4)  # preamble: clear, authenticated
        body = extension + body  # extension words: encrypted with the payload
    if padding:
        body = body + bytes(padding - 1) + bytes([padding])
    nonce = struct.pack(">I", counter)
    if mode == "aead_xchacha20_poly1305_rtpsize":
        sealed = nacl.secret.Aead(key).encrypt(bytes(body), bytes(header), nonce + bytes(20)).ciphertext
    else:
        sealed = AESGCM(key).encrypt(nonce + bytes(8), bytes(body), bytes(header))
    return bytes(header) + sealed + nonce
