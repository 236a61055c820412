"""One Discord voice UDP packet -> the speaker's Opus frame. Pure: no sockets, no state.

The order matters and is where other receive libraries broke under DAVE:
RTP header (12 bytes + 4 per CSRC, + the 4-byte 0xBEDE extension preamble when
X is set, all of it authenticated data) -> transport decryption (the last 4
bytes are the nonce counter) -> drop the decrypted extension words -> strip
RTP padding (P bit: the last byte counts the padding) -> only then DAVE
end-to-end decryption, whose 0xFAFA trailer the padding would otherwise hide.
A frame that cannot be decrypted is dropped and counted, never Opus-decoded
as ciphertext.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import davey
import nacl.exceptions
import nacl.secret
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

RTP_VERSION = 2
OPUS_PAYLOAD_TYPE = 120
EXTENSION_PROFILE = 0xBEDE
DAVE_MAGIC = b"\xfa\xfa"
MODES = ("aead_xchacha20_poly1305_rtpsize", "aead_aes256_gcm_rtpsize")


@dataclass(frozen=True, slots=True)
class VoicePacket:
    ssrc: int
    sequence: int
    timestamp: int
    user_id: int | None
    opus: bytes  # the decrypted Opus frame


class Drop(enum.Enum):
    """Why a packet yields no audio; each is counted by the receiver."""

    NOT_VOICE = "not_voice"  # not RTP v2 / Opus payload type (RTCP, keepalives, garbage)
    OWN = "own_ssrc"  # our own audio echoed back
    TRANSPORT = "transport_failed"  # wrong key, corrupted, or truncated
    UNMAPPED = "unmapped_ssrc"  # E2EE audio from an SSRC whose user is not known yet
    DAVE = "dave_failed"  # end-to-end decryption failed (key change, passthrough window)


def _transport_decrypt(mode: str, key: bytes, header: bytes, ciphertext: bytes, counter: bytes) -> bytes:
    if mode == "aead_xchacha20_poly1305_rtpsize":
        return nacl.secret.Aead(key).decrypt(ciphertext, header, counter + bytes(20))
    if mode == "aead_aes256_gcm_rtpsize":
        return AESGCM(key).decrypt(counter + bytes(8), ciphertext, header)
    raise ValueError(f"unsupported voice encryption mode {mode!r}; Parley decrypts {', '.join(MODES)}")


def decode(
    packet: bytes,
    *,
    secret_key: bytes,
    mode: str,
    dave_session: Any = None,
    user_for_ssrc: Callable[[int], int | None] = lambda ssrc: None,
    own_ssrc: int | None = None,
) -> VoicePacket | Drop:
    """Like `decode_voice_packet`, but says why a packet was dropped."""
    if len(packet) < 12 + 4 or packet[0] >> 6 != RTP_VERSION or packet[1] & 0x7F != OPUS_PAYLOAD_TYPE:
        return Drop.NOT_VOICE
    padded, extended, csrc_count = packet[0] & 0x20, packet[0] & 0x10, packet[0] & 0x0F
    sequence, timestamp, ssrc = struct.unpack_from(">HII", packet, 2)
    if ssrc == own_ssrc:
        return Drop.OWN
    header_end = 12 + 4 * csrc_count
    extension_words = 0
    if extended:
        if len(packet) < header_end + 4:
            return Drop.NOT_VOICE
        extension_words = struct.unpack_from(">H", packet, header_end + 2)[0]
        header_end += 4  # only the preamble is in the clear; the extension body is encrypted
    if len(packet) < header_end + 4:
        return Drop.NOT_VOICE
    try:
        plain = _transport_decrypt(mode, secret_key, packet[:header_end], packet[header_end:-4], packet[-4:])
    except (nacl.exceptions.CryptoError, InvalidTag, ValueError):
        return Drop.TRANSPORT
    payload = plain[4 * extension_words :]
    if padded:
        if not payload or payload[-1] > len(payload):
            return Drop.TRANSPORT
        payload = payload[: len(payload) - payload[-1]]
    user_id = user_for_ssrc(ssrc)
    if dave_session is not None and payload.endswith(DAVE_MAGIC):
        if user_id is None:
            return Drop.UNMAPPED
        try:
            payload = dave_session.decrypt(user_id, davey.MediaType.audio, payload)
        except Exception:  # davey raises plain exceptions for every failure
            return Drop.DAVE
        if not payload:
            return Drop.DAVE
    return VoicePacket(ssrc=ssrc, sequence=sequence, timestamp=timestamp, user_id=user_id, opus=bytes(payload))


def decode_voice_packet(
    packet: bytes,
    *,
    secret_key: bytes,
    mode: str,
    dave_session: Any = None,
    user_for_ssrc: Callable[[int], int | None] = lambda ssrc: None,
    own_ssrc: int | None = None,
) -> VoicePacket | None:
    """The speaker's decrypted Opus frame, or None for a packet that carries none."""
    result = decode(
        packet, secret_key=secret_key, mode=mode, dave_session=dave_session, user_for_ssrc=user_for_ssrc, own_ssrc=own_ssrc
    )
    return result if isinstance(result, VoicePacket) else None
