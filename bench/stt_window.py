"""Embedded Whisper: a conversational turn in faster-whisper's 30 s window vs a 20 s one.

The clips: the 35 sentences of bench/data/tts_sentences.txt spoken by hibari (as in
bench/tts_roundtrip.py), `make demo`'s question, and JFK's real speech whole and cut after 3 and
5 s. Each is transcribed both ways on the same loaded model, one at a time; the word error rate is
against the text that was spoken, both sides normalised the same way.

    .venv/bin/python bench/stt_window.py            # a table for docs/benchmarks.md
    .venv/bin/python bench/stt_window.py --show-errors
    .venv/bin/python bench/stt_window.py --model tiny.en   # the smaller English-only model
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jiwer  # noqa: E402
import numpy as np  # noqa: E402

from agent_core.audio import read_wav  # noqa: E402
from agent_core.audio.resample import resample  # noqa: E402
from agent_core.demo import DEFAULT_QUESTION, default_question  # noqa: E402
from agent_core.settings import Settings  # noqa: E402
from agent_core.stt.whisper_local import WHISPER_MODELS, WhisperStt  # noqa: E402
from agent_core.text.speakable import speakable  # noqa: E402
from bench.tts_roundtrip import SENTENCES, normalise, percentile, synthesise  # noqa: E402

JFK = "And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


def clips() -> list[tuple[str, np.ndarray]]:
    """(what was said, 16 kHz float samples)."""
    spoken = [speakable(line.strip()) for line in SENTENCES.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        run = synthesise("hibari", spoken, Path(tmp))
        said = [(text, resample(read_wav(Path(s["wav"])), 16000).to_float32())
                for text, s in zip(spoken, run["sentences"], strict=True)]
    jfk = read_wav(ROOT / "tests" / "data" / "jfk.wav").to_float32()
    said.append((DEFAULT_QUESTION, resample(default_question(), 16000).to_float32()))
    said += [(JFK, jfk), ("And so, my fellow Americans", jfk[: 3 * 16000]),
             ("And so, my fellow Americans, ask not", jfk[: 5 * 16000])]
    return said


def run(whisper: WhisperStt, said: list[tuple[str, np.ndarray]], short: bool) -> tuple[list[str], list[float]]:
    whisper.short_windows = short
    heard, times = [], []
    for _, samples in said:
        started = time.perf_counter()
        heard.append(whisper.transcribe_blocking(samples))
        times.append((time.perf_counter() - started) * 1000)
    return heard, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-errors", action="store_true")
    parser.add_argument("--model", default="base", choices=WHISPER_MODELS)
    args = parser.parse_args()
    said = clips()
    whisper = WhisperStt(model=args.model, cache_dir=Settings().models_dir, language="en")
    whisper.transcribe_blocking(np.zeros(16000, dtype=np.float32))  # loads and warms up
    references = [normalise(text) for text, _ in said]
    seconds = [len(samples) / 16000 for _, samples in said]
    print(f"{len(said)} clips, {min(seconds):.1f}-{max(seconds):.1f} s (median {statistics.median(seconds):.1f} s)")
    print("| model, window | WER | clips with an error | transcribe p50 / p90 (ms) | JFK 11 s (ms) |")
    print("|---|---|---|---|---|")
    for short, label in ((False, "30 s (faster-whisper)"), (True, "20 s (a turn up to 18 s)")):
        heard, times = run(whisper, said, short)
        hypotheses = [normalise(text) for text in heard]
        wrong = [(r, h) for r, h in zip(references, hypotheses, strict=True) if r != h]
        if args.show_errors:
            for reference, hypothesis in wrong:
                print(f"[{label}] said: {reference}\n  heard: {hypothesis}", file=sys.stderr)
        print(f"| {args.model}, {label} | {jiwer.wer(references, hypotheses):.1%} | {len(wrong)} | "
              f"{statistics.median(times):.0f} / {percentile(times, 90):.0f} | {times[-3]:.0f} |")


if __name__ == "__main__":
    main()
