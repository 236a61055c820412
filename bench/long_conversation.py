"""A day-long Discord conversation in minutes: does a Session's memory stay flat?

5,000 turns through one real Session (real Silero VAD on real speech, the sentence splitter,
the playback queue, the recorder's events) with instant scripted STT/LLM/TTS, the way a voice
channel that talks all day would drive it. Reports the process's RSS at the start, after the
first 500 turns (everything warmed up) and at the end, the growth per turn after warm-up, and
how long `Session.latencies()` (what /status reads) takes at the end.

    .venv/bin/python bench/long_conversation.py              # 5,000 turns
    .venv/bin/python bench/long_conversation.py --turns 1000
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent_core import events as ev  # noqa: E402
from agent_core.audio import AudioFrame, read_wav  # noqa: E402
from agent_core.persona import Persona  # noqa: E402
from agent_core.session import Session, SessionSettings  # noqa: E402
from agent_core.testing import (  # noqa: E402
    LocalChannel,  # noqa: E402
    ScriptedLlm,
    ScriptedStt,
    ScriptedTts,
)
from agent_core.turns import TurnSettings  # noqa: E402

WARM_UP_TURNS = 500


def rss_mb() -> float:
    """Current resident set size (Linux /proc), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(turns: int) -> None:
    speech = read_wav(ROOT / "tests" / "data" / "jfk.wav")
    utterance = AudioFrame(speech.pcm[: int(1.0 * 16000) * 2], 16000) + AudioFrame.silence(0.5, 16000)
    frames = utterance.split(0.02)
    channel = LocalChannel()
    settings = SessionSettings(turn=TurnSettings(end_of_turn_signals="silence", min_speech_ms=96,
                                                 end_of_turn_silence_ms=320))
    stt, llm, tts = ScriptedStt(), ScriptedLlm(lambda messages: "Sure, here it is."), ScriptedTts(seconds_per_word=0.01)
    stt.default = "Tell me something."  # every turn
    session = Session(stt=stt, llm=llm, tts=tts, persona=Persona(name="bench", system_prompt="Be brief."),
                      channel=channel, settings=settings)

    def forget_what_the_test_doubles_kept() -> None:
        """The scripted providers and the local channel record everything for tests: not the Session's memory."""
        channel.played.clear(), llm.requests.clear(), llm.offered_tools.clear()
        tts.spoken.clear(), stt.pushed_seconds.clear()

    pump = asyncio.create_task(channel.pump(session))
    await session.start()
    finished = asyncio.Event()
    session.subscribe(lambda event: finished.set() if isinstance(event, ev.ReplyFinished) and event.turn >= 1 else None)
    start_rss, started = rss_mb(), time.perf_counter()
    warm_rss = start_rss
    for turn in range(1, turns + 1):
        finished.clear()
        for frame in frames:
            session.push_audio("member", frame)
        await asyncio.wait_for(finished.wait(), 10)
        forget_what_the_test_doubles_kept()
        if turn == WARM_UP_TURNS:
            warm_rss = rss_mb()
    end_rss, seconds = rss_mb(), time.perf_counter() - started
    call_started = time.perf_counter()
    latencies = session.latencies()
    latencies_ms = (time.perf_counter() - call_started) * 1000
    pump.cancel()
    await session.close()
    growth_kb = (end_rss - warm_rss) * 1024 / max(1, turns - WARM_UP_TURNS)
    print(f"| turns | RSS start / after {WARM_UP_TURNS} / end (MB) | growth per turn after warm-up | "
          f"events kept | latencies() at the end | wall time |")
    print("|---|---|---|---|---|---|")
    print(f"| {turns} | {start_rss:.1f} / {warm_rss:.1f} / {end_rss:.1f} | {growth_kb:.2f} KB | "
          f"{len(session.events)} | {latencies_ms:.3f} ms ({len(latencies)} turns) | {seconds:.0f} s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=5000)
    args = parser.parse_args()
    asyncio.run(run(args.turns))


if __name__ == "__main__":
    main()
