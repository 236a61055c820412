"""The receive pipeline's pure core against packets built like Discord's."""

import davey
import pytest

from bots import decode_voice_packet
from bots.voice_packet import Drop, VoicePacket, decode
from tests.discord.voicekit import KEY, FakeDave, opus_frames, rtp_packet

MODES = ["aead_xchacha20_poly1305_rtpsize", "aead_aes256_gcm_rtpsize"]
USER = 111111111111111111


@pytest.fixture(scope="module")
def frames(jfk_opening):
    return opus_frames(jfk_opening)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("extension", [None, b"\x10\x01\x02\x03" * 2])
@pytest.mark.parametrize("padding", [0, 1, 7])
def test_frames_come_back_byte_for_byte(frames, mode, extension, padding):
    for index, frame in enumerate(frames[:20]):
        packet = rtp_packet(frame, ssrc=42, sequence=index, timestamp=960 * index, counter=index, mode=mode,
                            extension=extension, padding=padding)
        voice = decode_voice_packet(packet, secret_key=KEY, mode=mode, user_for_ssrc={42: USER}.get)
        assert voice is not None
        assert (voice.ssrc, voice.sequence, voice.timestamp, voice.user_id) == (42, index, 960 * index, USER)
        assert voice.opus == frame


def test_csrcs_are_skipped(frames):
    packet = rtp_packet(frames[5], ssrc=7, sequence=1, timestamp=1, counter=1, csrcs=(1, 2, 3))
    assert decode_voice_packet(packet, secret_key=KEY, mode=MODES[0]).opus == frames[5]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("padding", [0, 5])
def test_dave_runs_after_padding_is_stripped(frames, mode, padding):
    dave = FakeDave({USER})
    packet = rtp_packet(FakeDave.encrypt(frames[3]), ssrc=9, sequence=3, timestamp=3, counter=3, mode=mode,
                        extension=b"\x00" * 4, padding=padding)
    voice = decode_voice_packet(packet, secret_key=KEY, mode=mode, dave_session=dave, user_for_ssrc={9: USER}.get)
    assert voice is not None and voice.opus == frames[3]
    [(user, seen)] = dave.calls
    assert user == USER and seen.endswith(b"\xfa\xfa")  # the trailer was at the end: padding went first


def test_undecryptable_dave_frames_are_dropped_not_decoded(frames):
    dave = FakeDave(known_users=set())  # e.g. a key change: we have no key for this sender yet
    packet = rtp_packet(FakeDave.encrypt(frames[0]), ssrc=9, sequence=1, timestamp=1, counter=1)
    assert decode(packet, secret_key=KEY, mode=MODES[0], dave_session=dave, user_for_ssrc={9: USER}.get) is Drop.DAVE
    assert decode_voice_packet(packet, secret_key=KEY, mode=MODES[0], dave_session=dave, user_for_ssrc={9: USER}.get) is None


def test_encrypted_audio_from_an_unmapped_ssrc_is_dropped(frames):
    dave = FakeDave({USER})
    packet = rtp_packet(FakeDave.encrypt(frames[0]), ssrc=77, sequence=1, timestamp=1, counter=1)
    assert decode(packet, secret_key=KEY, mode=MODES[0], dave_session=dave) is Drop.UNMAPPED
    assert dave.calls == []  # never handed to DAVE without knowing whose key to use


def test_real_davey_session_without_keys_refuses_plain_frames_unless_e2ee_is_off(frames):
    """davey itself, before the MLS group exists (as right after joining or a key change)."""
    session = davey.DaveSession(davey.DAVE_PROTOCOL_VERSION, USER, 1234)
    session.set_passthrough_mode(True, 10)  # no decryptors yet, so nobody may pass through
    plain = rtp_packet(frames[4], ssrc=5, sequence=1, timestamp=1, counter=1)
    keys = dict(secret_key=KEY, mode=MODES[0], dave_session=session, user_for_ssrc={5: USER}.get)
    assert decode(plain, **keys) is Drop.UNENCRYPTED
    voice = decode(plain, **keys, e2ee_required=False)  # a channel without E2EE (or after a downgrade)
    assert isinstance(voice, VoicePacket) and voice.opus == frames[4]
    silence = rtp_packet(b"\xf8\xff\xfe", ssrc=5, sequence=2, timestamp=2, counter=2)
    assert decode(silence, **keys).opus == b"\xf8\xff\xfe"  # Opus silence is never encrypted
    e2ee = rtp_packet(FakeDave.encrypt(frames[4]), ssrc=5, sequence=3, timestamp=3, counter=3, padding=3)
    assert decode(e2ee, **keys) is Drop.DAVE


def test_wrong_key_tampering_and_truncation_are_transport_failures(frames):
    packet = rtp_packet(frames[0], ssrc=1, sequence=1, timestamp=1, counter=1)
    assert decode(packet, secret_key=bytes(32), mode=MODES[0]) is Drop.TRANSPORT
    tampered = bytearray(packet)
    tampered[5] ^= 1  # the header is authenticated data
    assert decode(bytes(tampered), secret_key=KEY, mode=MODES[0]) is Drop.TRANSPORT
    assert decode(packet[:-9] + packet[-4:], secret_key=KEY, mode=MODES[0]) is Drop.TRANSPORT
    aes = rtp_packet(frames[0], ssrc=1, sequence=1, timestamp=1, counter=1, mode=MODES[1])
    assert decode(aes, secret_key=KEY, mode=MODES[0]) is Drop.TRANSPORT  # negotiated mode matters


def test_not_voice_and_own_packets(frames):
    own = rtp_packet(frames[0], ssrc=99, sequence=1, timestamp=1, counter=1)
    assert decode(own, secret_key=KEY, mode=MODES[0], own_ssrc=99) is Drop.OWN
    rtcp = bytes([0x80, 0xC8]) + bytes(30)
    assert decode(rtcp, secret_key=KEY, mode=MODES[0]) is Drop.NOT_VOICE
    assert decode(b"\x00" * 8, secret_key=KEY, mode=MODES[0]) is Drop.NOT_VOICE
    wrong_version = bytes([0x40]) + own[1:]
    assert decode(wrong_version, secret_key=KEY, mode=MODES[0]) is Drop.NOT_VOICE


def test_unknown_mode_is_a_clear_error(frames):
    packet = rtp_packet(frames[0], ssrc=1, sequence=1, timestamp=1, counter=1)
    assert decode(packet, secret_key=KEY, mode="xsalsa20_poly1305") is Drop.TRANSPORT
