"""Discord's part in a DAVE group: the MLS external sender (RFC 9420), as the voice gateway plays it.

The gateway owns a P-256 key, announces it in op 25 (an ExternalSender), and
signs the Add/Remove proposals it sends in op 27 as an external sender
(PublicMessage, sender_type external, no membership tag). The encoding is
checked byte for byte against davey's own captured op 27 message
(tests/discord/test_dave_conformance.py).
"""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

MLS10 = 1
PUBLIC_MESSAGE = 1
SENDER_EXTERNAL = 2
CONTENT_PROPOSAL = 2
PROPOSAL_ADD, PROPOSAL_REMOVE = 1, 3
BASIC_CREDENTIAL = 1
CIPHER_SUITE_P256 = 2  # MLS_128_DHKEMP256_AES128GCM_SHA256_P256, DAVE protocol version 1


def varint(n: int) -> bytes:
    """MLS variable-length integer (RFC 9420 section 2.1.2)."""
    if n < 1 << 6:
        return bytes([n])
    if n < 1 << 14:
        return struct.pack(">H", 0x4000 | n)
    return struct.pack(">I", 0x80000000 | n)


def opaque(data: bytes) -> bytes:
    return varint(len(data)) + data


def read_opaque(data: bytes, at: int) -> tuple[bytes, int]:
    """(the vector at `at`, where the next field starts)."""
    kind = data[at] >> 6
    if kind == 0:
        size, at = data[at], at + 1
    elif kind == 1:
        size, at = struct.unpack_from(">H", data, at)[0] & 0x3FFF, at + 2
    else:
        size, at = struct.unpack_from(">I", data, at)[0] & 0x3FFFFFFF, at + 4
    if at + size > len(data):
        raise ValueError("vector runs past the end")
    return data[at : at + size], at + size


class ExternalSender:
    def __init__(self, key: ec.EllipticCurvePrivateKey | None = None) -> None:
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        self.public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def package(self) -> bytes:
        """op 25: ExternalSender { signature_key, credential (basic, identity one zero byte, as Discord sends) }."""
        return opaque(self.public) + struct.pack(">H", BASIC_CREDENTIAL) + opaque(b"\x00")

    def add(self, channel_id: int, epoch: int, key_package: bytes) -> bytes:
        return self._proposal(channel_id, epoch, struct.pack(">H", PROPOSAL_ADD) + key_package)

    def remove(self, channel_id: int, epoch: int, leaf_index: int) -> bytes:
        return self._proposal(channel_id, epoch, struct.pack(">HI", PROPOSAL_REMOVE, leaf_index))

    def _proposal(self, channel_id: int, epoch: int, proposal: bytes) -> bytes:
        """An MLSMessage carrying a PublicMessage proposal from external sender 0."""
        content = (
            opaque(struct.pack(">Q", channel_id))  # the group id is the channel id
            + struct.pack(">Q", epoch)
            + struct.pack(">BI", SENDER_EXTERNAL, 0)
            + opaque(b"")  # authenticated_data
            + bytes([CONTENT_PROPOSAL])
            + proposal
        )
        wire = struct.pack(">HH", MLS10, PUBLIC_MESSAGE)
        # FramedContentTBS for an external sender carries no GroupContext.
        return wire + content + opaque(sign_with_label(self.key, b"FramedContentTBS", wire + content))


def sign_with_label(key: ec.EllipticCurvePrivateKey, label: bytes, content: bytes) -> bytes:
    return key.sign(sign_content(label, content), ec.ECDSA(hashes.SHA256()))


def sign_content(label: bytes, content: bytes) -> bytes:
    return opaque(b"MLS 1.0 " + label) + opaque(content)


def proposals_payload(*messages: bytes) -> bytes:
    """op 27 after its operation-type byte: the proposal messages as one MLS vector."""
    return opaque(b"".join(messages))


def split_commit_welcome(data: bytes) -> tuple[bytes, bytes | None]:
    """op 28 as discord.py sends it: the commit MLSMessage, then the Welcome when members were added.

    Welcome = cipher_suite, secrets<V>, encrypted_group_info<V>: the split is where that parses to the end.
    """
    for start in range(4, len(data) - 2):
        if data[start : start + 2] != struct.pack(">H", CIPHER_SUITE_P256):
            continue
        try:
            _, at = read_opaque(data, start + 2)
            _, at = read_opaque(data, at)
        except (ValueError, IndexError, struct.error):
            continue
        if at == len(data):
            return data[:start], data[start:]
    return data, None
