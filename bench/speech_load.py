"""Load on the speech services' OpenAI routes: requests/s, time to first byte and real-time factor.

Starts `parley services serve` (the embedded Whisper and hibari) in its own process and sends
requests from this one at 1, 4 and 16 concurrent clients, each client sending its next request as
soon as the last one is answered:

- speech: POST /v1/audio/speech/stream, pcm, one sentence of bench/data/tts_sentences.txt each.
  TTFB is the first audio byte; RTF is the whole request's time over the audio's duration.
- transcriptions: POST /v1/audio/transcriptions of tests/data/jfk.wav (11 s); TTFB is the answer.

    python bench/speech_load.py --requests 32
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from remote_services import TOKEN, start_services  # noqa: E402

SENTENCES = [line.strip() for line in (ROOT / "bench/data/tts_sentences.txt").read_text().splitlines() if line.strip()]
JFK = (ROOT / "tests/data/jfk.wav").read_bytes()
JFK_S = 11.0
CONCURRENCY = (1, 4, 16)


@dataclass
class Sample:
    ttfb_s: float
    total_s: float
    audio_s: float


async def speak(http: httpx.AsyncClient, index: int) -> Sample:
    body = {"input": SENTENCES[index % len(SENTENCES)], "response_format": "pcm"}
    start = time.perf_counter()
    first, size = None, 0
    async with http.stream("POST", "/v1/audio/speech/stream", json=body) as response:
        response.raise_for_status()
        async for chunk in response.aiter_bytes():
            first = first or time.perf_counter()
            size += len(chunk)
    end = time.perf_counter()
    return Sample(first - start, end - start, size / 2 / 24000)


async def transcribe(http: httpx.AsyncClient, index: int) -> Sample:
    start = time.perf_counter()
    response = await http.post("/v1/audio/transcriptions", files={"file": ("jfk.wav", JFK, "audio/wav")})
    response.raise_for_status()
    elapsed = time.perf_counter() - start
    return Sample(elapsed, elapsed, JFK_S)


async def level(url: str, route, concurrency: int, requests: int) -> tuple[float, list[Sample]]:
    samples: list[Sample] = []
    queue = iter(range(requests))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=600, limits=limits) as http:
        await route(http, 0)  # warm: connection and the engine's first call

        async def client() -> None:
            for index in queue:
                samples.append(await route(http, index))

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return time.perf_counter() - start, samples


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(requests: int, routes: list[str]) -> list[str]:
    process, url = start_services(Path(tempfile.mkdtemp(prefix="parley-bench-")))
    rows = []
    try:
        for name in routes:
            route = speak if name == "speech" else transcribe
            for concurrency in CONCURRENCY:
                wall, samples = await level(url, route, concurrency, max(requests, concurrency))
                ttfb = [s.ttfb_s * 1000 for s in samples]
                rtf = statistics.median(s.total_s / s.audio_s for s in samples)
                rows.append(f"| {name} | {concurrency} | {len(samples) / wall:.1f} | {percentile(ttfb, 0.5):.0f} | "
                            f"{percentile(ttfb, 0.99):.0f} | {rtf:.3f} |")
                print(rows[-1], flush=True)
    finally:
        process.terminate()
        process.wait(30)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=32, help="requests per concurrency level")
    parser.add_argument("--routes", default="speech,transcriptions")
    args = parser.parse_args()
    print("| route | concurrent | requests/s | TTFB p50 ms | TTFB p99 ms | RTF (median) |\n|---|---|---|---|---|---|")
    asyncio.run(measure(args.requests, args.routes.split(",")))


if __name__ == "__main__":
    main()
