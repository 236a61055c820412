"""CPU per inbound 20 ms phone frame: Twilio's JSON text -> MediaStreamCall -> Session -> Listener -> VAD.

N calls at real-time pace in one process: every 20 ms each call gets its next `media`
message (tests/data/jfk.wav as 8 kHz mu-law, base64 in JSON, from a different offset per
call, with pauses, so turns end and replies are made). The path is the production one from
`MediaStreamCall._handle` on, with the process-wide batched VAD and instant scripted
STT/LLM/TTS; no sockets (their cost is the web server's, the same for any framework).
Reports process CPU (all threads) per frame and per call as % of one core, median of
--repeats runs. For comparing one change against the code before it, on the same machine.

    python bench/frame_path.py                  # 100 calls, 5 s, 3 repeats
    python bench/frame_path.py --calls 150 --seconds 8
    python bench/frame_path.py --per-stream-vad  # the inline VAD per call, for the batch's gain
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent_core.audio import AudioFrame, read_wav  # noqa: E402
from agent_core.audio.mulaw import pcm16_to_ulaw  # noqa: E402
from agent_core.audio.resample import resample  # noqa: E402
from agent_core.listener import Listener  # noqa: E402
from agent_core.persona import Persona  # noqa: E402
from agent_core.session import Session  # noqa: E402
from agent_core.session_settings import SessionSettings  # noqa: E402
from agent_core.testing import ScriptedLlm, ScriptedStt, ScriptedTts  # noqa: E402
from agent_core.vad import SileroVad  # noqa: E402
from agent_core.vad_batch import VadBatch  # noqa: E402
from telephony.media_stream import MediaStreamCall  # noqa: E402

FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law


class NullSocket:
    """Takes what the call sends (the `clear` of a barge-in) and drops it."""

    async def send_text(self, text: str) -> None:
        pass


def caller_messages(frames: int, offset: int, ulaw: bytes) -> list[str]:
    out = []
    for i in range(frames):
        start = ((offset + i) * FRAME_BYTES) % (len(ulaw) - FRAME_BYTES)
        payload = base64.b64encode(ulaw[start : start + FRAME_BYTES]).decode()
        media = {"track": "inbound", "chunk": str(i + 1), "timestamp": str(i * 20), "payload": payload}
        out.append(json.dumps({"event": "media", "streamSid": "MZ1", "media": media}))
    return out


WAITS: list[float] = []  # how long each batched VAD result came after its audio (s)


def record_waits() -> None:
    late = Listener._late_probabilities

    def timed(listener: Listener, probabilities: list[float], waited_s: float) -> None:
        WAITS.append(waited_s)
        late(listener, probabilities, waited_s)

    Listener._late_probabilities = timed  # type: ignore[method-assign]


async def run(calls: int, seconds: float, ulaw: bytes, per_stream_vad: bool) -> float:
    """Process CPU seconds per frame."""
    batch = SileroVad.shared() if per_stream_vad else VadBatch()
    persona = Persona(name="bench", system_prompt="Be brief.", turn={"end_of_turn_signals": "silence"})
    streams: list[MediaStreamCall] = []
    for _ in range(calls):
        call: Any = MediaStreamCall(NullSocket(), None, max_message_bytes=1 << 16)  # type: ignore[arg-type]
        call.session = Session(stt=ScriptedStt(), llm=ScriptedLlm(["Sure."]), tts=ScriptedTts(sample_rate=8000),
                               persona=persona, channel=call, vad=batch,
                               settings=persona.session_settings(SessionSettings()))
        streams.append(call)
    frames = int(seconds / 0.02)
    messages = [caller_messages(frames, i * 53, ulaw) for i in range(calls)]
    start = time.monotonic()
    cpu = time.process_time()
    for n in range(frames):
        for call, texts in zip(streams, messages, strict=True):
            await call._handle(texts[n])
        await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - time.monotonic()))
    cpu = time.process_time() - cpu
    for call in streams:
        assert call.session is not None
        await call.session.close()
    assert all(call.stats.errors == call.stats.malformed == 0 for call in streams)
    return cpu / (frames * calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--per-stream-vad", action="store_true", help="one inline VAD per call, as before batching")
    args = parser.parse_args()
    speech = read_wav(ROOT / "tests" / "data" / "jfk.wav")
    quiet = AudioFrame.silence(0.8, speech.sample_rate)
    ulaw = pcm16_to_ulaw(resample(speech + quiet, 8000).pcm)
    record_waits()
    per_frame = [asyncio.run(run(args.calls, args.seconds, ulaw, args.per_stream_vad)) for _ in range(args.repeats)]
    us = statistics.median(per_frame) * 1e6
    waits = sorted(WAITS) or [0.0]
    print(f"{args.calls} calls: {us:.0f} us CPU per 20 ms frame ({us / 200:.2f}% of a core per call); "
          f"runs: {', '.join(f'{p * 1e6:.0f}' for p in per_frame)} us; VAD result wait p50 "
          f"{waits[len(waits) // 2] * 1000:.1f} ms, p99 {waits[int(len(waits) * 0.99)] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
