"""One Discord voice UDP packet -> the speaker's Opus frame. Pure: no sockets, no state.

The order matters and is where other receive libraries broke under DAVE:
RTP header (12 bytes + 4 per CSRC, + the 4-byte 0xBEDE extension preamble when
X is set, all of it authenticated data) -> transport decryption (the last 4
bytes are the nonce counter) -> drop the decrypted extension words -> strip
RTP padding (P bit: the last byte counts the padding) -> only then DAVE
end-to-end decryption, whose 0xFAFA trailer the padding would otherwise hide.
A frame that cannot be decrypted is dropped and counted, never Opus-decoded
as ciphertext.

While end-to-end encryption is in force a frame without the DAVE trailer is
refused, except Opus silence (never encrypted) and davey's passthrough window
during a protocol transition. When the SSRC's owner is unknown (their SPEAKING
came before we listened, or a reconnect changed it), the frame is tried under
each group member's key: the one that authenticates names the sender.
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
OPUS_SILENCE = b"\xf8\xff\xfe"
MODES = ("aead_xchacha20_poly1305_rtpsize", "aead_aes256_gcm_rtpsize")


@dataclass(frozen=True, slots=True)
class VoicePacket:
    ssrc: int
    sequence: int
    timestamp: int
    user_id: int | None
    opus: bytes  # the decrypted Opus frame
    identified: bool = False  # the sender was named by their DAVE key, not by the SSRC map


class Drop(enum.Enum):
    """Why a packet yields no audio; each is counted by the receiver."""

    NOT_VOICE = "not_voice"  # not RTP v2 / Opus payload type (RTCP, keepalives, garbage)
    OWN = "own_ssrc"  # our own audio echoed back
    TRANSPORT = "transport_failed"  # wrong key, corrupted, or truncated
    UNMAPPED = "unmapped_ssrc"  # E2EE audio from an SSRC whose user is not known yet
    DAVE = "dave_failed"  # end-to-end decryption failed (key change, frame from an unknown epoch)
    UNENCRYPTED = "unencrypted"  # plain audio while end-to-end encryption is required


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
    e2ee_required: bool | None = None,
    user_for_ssrc: Callable[[int], int | None] = lambda ssrc: None,
    own_ssrc: int | None = None,
) -> VoicePacket | Drop:
    """Like `decode_voice_packet`, but says why a packet was dropped.

    `e2ee_required` (default: whenever there is a DAVE session) refuses plain frames.
    """
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
    if e2ee_required is None:
        e2ee_required = dave_session is not None
    user_id = user_for_ssrc(ssrc)
    identified = False
    if dave_session is not None and payload.endswith(DAVE_MAGIC):
        opened = _dave_open(dave_session, user_id, payload)
        if opened is None:
            return Drop.DAVE if user_id is not None else Drop.UNMAPPED
        identified, (user_id, payload) = opened[0] != user_id, opened
    elif e2ee_required and payload != OPUS_SILENCE:
        if dave_session is None or user_id is None or not dave_session.can_passthrough(user_id):
            return Drop.UNENCRYPTED
    return VoicePacket(ssrc, sequence, timestamp, user_id, bytes(payload), identified)


def _dave_open(session: Any, user_id: int | None, frame: bytes) -> tuple[int, bytes] | None:
    """(sender, Opus) for a DAVE frame: under the mapped sender's key, else under whichever member's key opens it."""
    if user_id is not None and (opus := _dave_decrypt(session, user_id, frame)) is not None:
        return user_id, opus
    try:
        members = [int(member) for member in session.get_user_ids()]
    except Exception:  # no group yet
        return None
    for member in members:
        if member in (user_id, session.user_id):
            continue
        if (opus := _dave_decrypt(session, member, frame)) is not None:
            return member, opus
    return None


def _dave_decrypt(session: Any, user_id: int, frame: bytes) -> bytes | None:
    try:
        opus = session.decrypt(user_id, davey.MediaType.audio, frame)
    except Exception:  # davey raises plain exceptions for every failure: wrong key, no key, replay
        return None
    return opus or None


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
