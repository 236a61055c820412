"""Per-turn orchestration overhead, and voice-to-voice on the embedded models.

Overhead: turns through a real Session (real Silero VAD on real speech, real
resampling, sentence splitting, playback queue) with instant scripted
STT/LLM/TTS, so what is left is Parley's own work. It is measured from the
moment the turn is declared over (the configured silence wait is excluded) to
the first reply chunk handed to the channel.

    python bench/overhead.py                      # 200 overhead turns + 5 embedded turns
    python bench/overhead.py --turns 500 --embedded-turns 0
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent_core import events as ev  # noqa: E402
from agent_core.audio import AudioFrame, read_wav  # noqa: E402
from agent_core.demo import default_question, run_demo  # noqa: E402
from agent_core.persona import Persona, load_persona  # noqa: E402
from agent_core.providers import build_providers  # noqa: E402
from agent_core.session import Session, SessionSettings  # noqa: E402
from agent_core.settings import Settings  # noqa: E402
from agent_core.testing import (  # noqa: E402
    LocalChannel,  # noqa: E402
    ScriptedLlm,
    ScriptedStt,
    ScriptedTts,
)
from agent_core.turns import TurnSettings  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def overhead_turns(turns: int) -> tuple[list[float], list[float]]:
    speech = read_wav(ROOT / "tests" / "data" / "jfk.wav")
    utterance = AudioFrame(speech.pcm[: int(2.6 * 16000) * 2], 16000)
    frames = (utterance + AudioFrame.silence(0.8, 16000)).split(0.02)
    persona = Persona(name="bench", system_prompt="Be brief.")
    channel = LocalChannel()
    session = Session(
        stt=ScriptedStt(),
        llm=ScriptedLlm(["Sure, here is a short answer for you. And a second sentence."]),
        tts=ScriptedTts(),
        persona=persona,
        channel=channel,
        # Silence alone ends these turns: this measures Parley's own work after a turn is over,
        # and bursts of audio would run ahead of the end-of-turn models' verdicts.
        settings=SessionSettings(turn=TurnSettings(end_of_turn_signals="silence"), max_history_messages=8, idle_timeout_s=0),
    )
    pump = asyncio.create_task(channel.pump(session))
    await session.start()
    overheads: list[float] = []
    frame_costs: list[float] = []
    for turn in range(1, turns + 1):
        done = asyncio.Event()

        def on_event(event: ev.SessionEvent, turn: int = turn, done: asyncio.Event = done) -> None:
            if isinstance(event, ev.ReplyFinished) and event.turn == turn:
                done.set()

        session.subscribe(on_event)
        for frame in frames:
            started = time.perf_counter()
            session.push_audio("caller", frame)
            frame_costs.append(time.perf_counter() - started)
            if any(isinstance(e, ev.TurnEnded) and e.turn == turn for e in itertools.islice(reversed(session.events), 4)):
                break  # audio keeps arriving in reality, but its cost is measured per frame above
            await asyncio.sleep(0)
        await asyncio.wait_for(done.wait(), 10)
        session._listeners.clear()
        by_kind = {type(e): e.t for e in session.events if e.turn == turn}
        overheads.append(by_kind[ev.FirstAudioOut] - by_kind[ev.TurnEnded])
    pump.cancel()
    await session.close()
    return overheads, frame_costs


async def embedded_turns(turns: int) -> list[dict[str, float | None]]:
    settings = Settings()
    providers = build_providers(settings)
    await providers.load()
    persona = load_persona(settings.persona, settings.personas_dir)
    question = default_question()
    results = []
    for _ in range(turns):
        result = await run_demo(providers, persona, question, settings.session)
        results.append(result.latency_ms)
    await providers.aclose()
    return results


def report_overhead(overheads: list[float], frame_costs: list[float]) -> None:
    ms = [o * 1000 for o in overheads]
    us = [c * 1e6 for c in frame_costs]
    print(f"## Orchestration overhead ({len(ms)} turns, instant scripted providers)\n")
    print("| measure | p50 | p99 | max |")
    print("|---|---|---|---|")
    print(f"| turn over -> first reply audio out (ms) | {percentile(ms, 50):.2f} | {percentile(ms, 99):.2f} | {max(ms):.2f} |")
    print(
        f"| caller audio in, per 20 ms frame (µs) | {percentile(us, 50):.0f} | {percentile(us, 99):.0f} | {max(us):.0f} |"
    )
    print()


def report_embedded(results: list[dict[str, float | None]]) -> None:
    print(f"## Embedded models, voice to voice ({len(results)} turns)\n")
    print("| stage (ms) | p50 | min | max |")
    print("|---|---|---|---|")
    for stage in results[0]:
        values = [r[stage] for r in results if r[stage] is not None]
        if values:
            print(f"| {stage} | {statistics.median(values):.0f} | {min(values):.0f} | {max(values):.0f} |")
    print()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--embedded-turns", type=int, default=5)
    args = parser.parse_args()
    if args.turns:
        report_overhead(*await overhead_turns(args.turns))
    if args.embedded_turns:
        report_embedded(await embedded_turns(args.embedded_turns))


if __name__ == "__main__":
    asyncio.run(main())
