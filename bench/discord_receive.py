"""Cost of Parley's Discord receive path, per packet and per speaker.

Packets built like a Discord client's (20 ms Opus frames of real speech, DAVE
frame + RTP padding + header extension, xchacha20 transport encryption) go
through the same steps as on a live connection: the socket thread's hand-off
to the event loop, transport decryption, padding, DAVE (a stand-in that does
the same bookkeeping; real DAVE adds its own AES-GCM), Opus decoding, stereo
to mono, and the Session's intake (resampling to 16 kHz and Silero VAD).

    python bench/discord_receive.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent_core.audio import read_wav  # noqa: E402
from agent_core.persona import Persona  # noqa: E402
from agent_core.session import Session  # noqa: E402
from agent_core.testing import ScriptedLlm, ScriptedStt, ScriptedTts  # noqa: E402
from bots.voice_packet import decode  # noqa: E402
from bots.voice_receive import TransportKeys, VoiceReceiver  # noqa: E402
from tests.discord.voicekit import KEY, FakeDave, opus_frames, rtp_packet  # noqa: E402

MODE = "aead_xchacha20_poly1305_rtpsize"


class NullChannel:
    output_sample_rate = 48000

    async def flush(self) -> None:
        pass


def packets(frames: list[bytes], ssrc: int) -> list[bytes]:
    return [
        rtp_packet(FakeDave.encrypt(f), ssrc=ssrc, sequence=i, timestamp=960 * i, counter=i, padding=2, extension=bytes(4))
        for i, f in enumerate(frames)
    ]


def per_packet_us(work, items) -> float:
    started = time.perf_counter()
    for item in items:
        work(item)
    return (time.perf_counter() - started) / len(items) * 1e6


async def main() -> None:
    speech = read_wav(ROOT / "tests" / "data" / "jfk.wav")
    frames = opus_frames(speech)  # 11 s, 550 packets
    dave = FakeDave({1})
    wire = packets(frames, 5)
    keys = TransportKeys(KEY, MODE, 999, dave)
    results: dict[str, list[float]] = {"decrypt": [], "decrypt+opus": [], "full": []}
    for _ in range(5):
        results["decrypt"].append(
            per_packet_us(lambda p: decode(p, secret_key=KEY, mode=MODE, dave_session=dave, user_for_ssrc={5: 1}.get), wire)
        )
        receiver = VoiceReceiver(asyncio.get_running_loop(), keys=lambda: keys, on_audio=lambda u, f: None)
        receiver.map_speaker(5, 1)
        results["decrypt+opus"].append(per_packet_us(receiver.handle_packet, wire))
        session = Session(
            stt=ScriptedStt(), llm=ScriptedLlm(), tts=ScriptedTts(), channel=NullChannel(),
            persona=Persona(name="b", system_prompt="b"),
        )
        full = VoiceReceiver(asyncio.get_running_loop(), keys=lambda: keys, on_audio=lambda u, f, s=session: s.push_audio(str(u), f))
        full.map_speaker(5, 1)
        results["full"].append(per_packet_us(full.handle_packet, wire))
        await session.close()
    print("## Discord receive path, per 20 ms packet (median of 5 runs over 550 packets of speech)\n")
    print("| stage | µs per packet | share of one core per speaker |")
    print("|---|---|---|")
    labels = {
        "decrypt": "RTP parse + transport decrypt + padding + DAVE",
        "decrypt+opus": "... + Opus decode + mono (VoiceReceiver)",
        "full": "... + Session intake (resample to 16 kHz, Silero VAD, turn-taking)",
    }
    for key, label in labels.items():
        us = statistics.median(results[key])
        print(f"| {label} | {us:.0f} | {us / 20000 * 100:.2f}% |")
    handoff = []
    loop = asyncio.get_running_loop()
    for _ in range(5):
        done = asyncio.Event()
        count = {"n": 0}

        def tick(_data, done=done, count=count):
            count["n"] += 1
            if count["n"] == len(wire):
                done.set()

        receiver = VoiceReceiver(loop, keys=lambda: None, on_audio=lambda u, f: None)
        receiver.handle_packet = tick  # type: ignore[method-assign]
        started = time.perf_counter()
        await asyncio.to_thread(lambda r=receiver: [r.on_socket_packet(p) for p in wire])
        await done.wait()
        handoff.append((time.perf_counter() - started) / len(wire) * 1e6)
    print(f"\nSocket thread -> event loop hand-off: {statistics.median(handoff):.1f} µs per packet.")


if __name__ == "__main__":
    asyncio.run(main())
