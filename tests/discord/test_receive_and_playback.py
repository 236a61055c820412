"""Receive (packets -> per-speaker PCM on the loop) and playback (the real discord.py AudioPlayer)."""

import asyncio
import statistics
import threading
import time

import discord
import numpy as np
import pytest
from discord.player import AudioPlayer
from prometheus_client import REGISTRY

from agent_core import telemetry  # noqa: F401  registers the metrics
from agent_core.audio import AudioFrame
from agent_core.playback import PlaybackQueue, Segment, SpokenReply
from bots.playback import FRAME_BYTES, LEAD_IN_FRAMES, QueuedAudioSource
from bots.voice_receive import TransportKeys, VoiceReceiver
from tests.discord.voicekit import KEY, FakeDave, opus_frames, rtp_packet

ALICE, BOB, OTHER_BOT = 101, 202, 303


def packets_of(frames, ssrc, *, dave=False, padding=0, start=0):
    return [
        rtp_packet(FakeDave.encrypt(f) if dave else f, ssrc=ssrc, sequence=start + i, timestamp=960 * (start + i),
                   counter=start + i, padding=padding, extension=b"\x00\x00\x00\x00")
        for i, f in enumerate(frames)
    ]


def feed_from_reader_thread(receiver, packets):
    thread = threading.Thread(target=lambda: [receiver.on_socket_packet(p) for p in packets])
    thread.start()
    thread.join()



def dropped_unmapped() -> float:
    labels = {"channel": "discord", "reason": "unmapped_ssrc"}
    return REGISTRY.get_sample_value("parley_frames_dropped_total", labels) or 0.0

async def test_packets_from_the_socket_thread_become_each_speakers_audio(jfk_opening):
    loop = asyncio.get_running_loop()
    heard: dict[int, list[AudioFrame]] = {}
    receiver = VoiceReceiver(
        loop,
        keys=lambda: TransportKeys(KEY, "aead_xchacha20_poly1305_rtpsize", 999, FakeDave({ALICE, BOB, OTHER_BOT})),
        on_audio=lambda user, frame: heard.setdefault(user, []).append(frame),
        is_ignored=lambda user: user == OTHER_BOT,
    )
    frames = opus_frames(jfk_opening)
    receiver.map_speaker(1, ALICE)
    receiver.map_speaker(2, BOB)
    receiver.map_speaker(3, OTHER_BOT)
    early = packets_of(frames[:5], 4, dave=True)  # SSRC 4 before its SPEAKING arrives
    dropped_before = dropped_unmapped()
    feed_from_reader_thread(receiver, packets_of(frames, 1, dave=True, padding=3) + packets_of(frames[:50], 2, dave=True)
                            + packets_of(frames[:10], 3, dave=True) + early)
    await asyncio.sleep(0.05)  # the loop runs the handed-over packets
    assert len(heard[ALICE]) == len(frames) and len(heard[BOB]) == 50
    assert OTHER_BOT not in heard
    assert receiver.stats["ignored_user"] == 10 and receiver.stats["unmapped_ssrc"] == 5
    assert dropped_unmapped() - dropped_before == 5  # what /metrics reports
    alice = AudioFrame(b"".join(f.pcm for f in heard[ALICE]), 48000)
    assert alice.sample_rate == 48000 and alice.duration_s == pytest.approx(len(frames) * 0.02)
    # Opus is lossy, but what comes out is the speech that went in: same loudness envelope.
    original = np.frombuffer(jfk_opening.pcm, dtype="<i2").astype(float)
    decoded = np.frombuffer(alice.pcm, dtype="<i2").astype(float)
    assert abs(np.sqrt(np.mean(decoded**2)) / np.sqrt(np.mean(original**2)) - 1) < 0.2


async def test_lost_packets_are_concealed_and_late_ones_dropped(jfk_opening):
    loop = asyncio.get_running_loop()
    heard = []
    receiver = VoiceReceiver(loop, keys=lambda: TransportKeys(KEY, "aead_xchacha20_poly1305_rtpsize", None, None),
                             on_audio=lambda user, frame: heard.append(frame))
    receiver.map_speaker(1, ALICE)
    packets = packets_of(opus_frames(jfk_opening)[:20], 1)
    for packet in packets[:5] + packets[8:] + [packets[6]]:  # 3 lost, one arrives late
        receiver.handle_packet(packet)
    assert receiver.stats["lost"] == 3 and receiver.stats["late"] == 1
    assert len(heard) == 20  # 17 received + 3 concealed, at the right places in time


async def test_key_change_after_reconnect_is_picked_up(jfk_opening):
    loop = asyncio.get_running_loop()
    heard = []
    keys = {"now": TransportKeys(KEY, "aead_xchacha20_poly1305_rtpsize", None, None)}
    receiver = VoiceReceiver(loop, keys=lambda: keys["now"], on_audio=lambda user, frame: heard.append(frame))
    receiver.map_speaker(1, ALICE)
    frames = opus_frames(jfk_opening)[:4]
    receiver.handle_packet(packets_of(frames[:1], 1)[0])
    new_key = bytes(reversed(KEY))
    keys["now"] = TransportKeys(new_key, "aead_aes256_gcm_rtpsize", None, None)
    receiver.handle_packet(rtp_packet(frames[1], ssrc=1, sequence=1, timestamp=960, counter=1, key=new_key, mode="aead_aes256_gcm_rtpsize"))
    keys["now"] = None  # between reconnects
    receiver.handle_packet(packets_of(frames[2:3], 1, start=2)[0])
    assert len(heard) == 2 and receiver.stats["no_key"] == 1


async def test_client_disconnect_unmaps_the_user(jfk_opening):
    receiver = VoiceReceiver(asyncio.get_running_loop(), keys=lambda: None, on_audio=lambda u, f: None)
    receiver.map_speaker(1, ALICE)
    receiver.map_speaker(2, ALICE)
    receiver.forget_user(ALICE)
    assert receiver.speakers.as_dict() == {}


class FakeVoiceClient:
    """What discord.py's AudioPlayer needs from a VoiceClient, recording when each packet went out."""

    def __init__(self, loop):
        self.sent: list[tuple[float, bytes]] = []
        self.client = type("C", (), {"loop": loop})()
        self.ws = self
        self.timeout = 1.0

    async def speak(self, state):
        pass

    def send_audio_packet(self, data, *, encode=True):
        assert encode  # PCM goes to discord.py's own Opus encoder
        self.sent.append((time.perf_counter(), data))

    def is_connected(self):
        return True


def chunk_of(queue, reply, segment, seconds):
    return queue.put(AudioFrame(bytes(int(48000 * seconds) * 2), 48000), reply, segment)


async def test_source_feeds_the_real_audio_player_every_20_ms_and_reports_heard_chunks():
    loop = asyncio.get_running_loop()
    played = []
    source = QueuedAudioSource(loop, played.append)
    queue, reply = PlaybackQueue(), SpokenReply(turn=1)
    segment = Segment("hello there", 48000)
    reply.segments.append(segment)
    chunks = [chunk_of(queue, reply, segment, 0.1) for _ in range(10)]  # 1 s of reply
    source.start()
    for chunk in chunks[:5]:
        source.put(chunk)
    client = FakeVoiceClient(loop)
    finished = asyncio.Event()
    player = AudioPlayer(source, client, after=lambda error: loop.call_soon_threadsafe(finished.set))
    player.start()
    await asyncio.sleep(0.3)
    for chunk in chunks[5:]:  # the rest arrives while it plays: asyncio feeds the player thread
        source.put(chunk)
    await asyncio.wait_for(finished.wait(), 10)  # ends itself once idle
    await asyncio.to_thread(player.join, 5)  # nothing of the player outlives this test's event loop
    sent = client.sent
    assert all(len(data) == FRAME_BYTES for _, data in sent)
    assert not any(sent[i][1].strip(b"\x00") for i in range(LEAD_IN_FRAMES))  # 200 ms lead-in silence
    gaps_ms = sorted((b - a) * 1000 for (a, _), (b, _) in zip(sent, sent[1:], strict=False))
    # The player paces by absolute deadlines, so the mean holds at 20 ms even on a busy machine;
    # a read() that waited (or a source that fed the player late) would push it up.
    assert statistics.mean(gaps_ms) == pytest.approx(20, abs=3)
    assert gaps_ms[int(len(gaps_ms) * 0.95)] < 45
    await asyncio.sleep(0.05)
    assert played == chunks  # every chunk reported heard, in order, once its last frame left


async def test_clear_drops_unplayed_audio():
    loop = asyncio.get_running_loop()
    source = QueuedAudioSource(loop, lambda chunk: None)
    queue, reply = PlaybackQueue(), SpokenReply(turn=1)
    segment = Segment("x", 48000)
    source.put(chunk_of(queue, reply, segment, 0.5))
    assert source.queued == 25
    assert source.clear() == 25 and source.read() == bytes(FRAME_BYTES)


def test_source_refuses_other_rates():
    source = QueuedAudioSource(asyncio.new_event_loop(), lambda chunk: None)
    queue, reply = PlaybackQueue(), SpokenReply(turn=1)
    with pytest.raises(ValueError):
        source.put(queue.put(AudioFrame(bytes(320), 16000), reply, Segment("x", 16000)))


def test_discord_is_pinned_to_the_version_whose_private_hooks_we_use():
    assert discord.__version__ == "2.7.1"


def test_source_stops_quietly_once_its_event_loop_has_closed():
    """A player thread still reading at shutdown must end the stream, not raise in its thread."""
    loop = asyncio.new_event_loop()
    source = QueuedAudioSource(loop, lambda chunk: None)
    queue, reply = PlaybackQueue(), SpokenReply(turn=1)
    source.put(chunk_of(queue, reply, Segment("x", 48000), 0.02))
    source.put(chunk_of(queue, reply, Segment("y", 48000), 0.02))
    loop.close()
    assert source.read() == b"" and source.queued == 0
