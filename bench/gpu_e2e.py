"""Voice-to-voice on the GPU path, end to end, with N simulated phone calls at once.

One box runs everything: the three GPU engines (Kyutai STT, vLLM, Chatterbox TTS, random
weights as in docs/gpu-benchmarks.md) behind the speech services (`create_services_app`, the
routes Modal serves; the LLM is vLLM's own OpenAI server), the orchestrator (the real Parley
app, reaching STT/TTS/LLM over their remote backends, as on Modal) and N TwilioSimulator calls:
each caller asks config/sounds/question.wav and hangs up after the reply. Per turn, from the
call records: end of turn (speech end -> turn over, the silence wait), STT final (turn over ->
final transcript), LLM first token (transcript -> first token), TTS first audio (first sentence
-> first audio) and voice to voice (speech end -> first reply audio out); "after end of turn" is
voice to voice less the silence wait, the models' and Parley's share. p50/p99 per N.

Random weights write nonsense: an empty transcript is replaced by the question, and replies are
a fixed number of tokens (`--reply-tokens`), so every turn does the same work.

--dry-run: the same topology on the CPU with tiny random stand-ins for the engines (a random
projection per 80 ms of audio, per token, per 0.5 s of speech); its figures say nothing about a
GPU, it proves the script and the report (tests/unit/test_gpu_e2e.py runs it).

    python bench/gpu_e2e.py --calls 1,8,32 --vllm-model /models/gemma-3-1b-it   # GPU box
    python bench/gpu_e2e.py --dry-run --calls 1 --json report.json              # anywhere
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from agent_core.audio import AudioFrame, read_wav  # noqa: E402
from agent_core.llm.base import LanguageModel, Message, ToolChoice  # noqa: E402
from agent_core.providers import build_providers  # noqa: E402
from agent_core.settings import Settings, TwilioSettings  # noqa: E402
from agent_core.stt.base import SpeechToText, SttStream  # noqa: E402
from agent_core.tts.base import SpeechStyle, TextToSpeech  # noqa: E402
from parley.local_server import free_port, running_server  # noqa: E402

STAGES = ("end_of_turn", "stt_final", "llm_first_token", "tts_first_audio", "voice_to_voice")
QUESTION = "What is the capital of France?"
PERSONA = """system_prompt = "Answer in one short sentence."
greeting = ""
[turn]
end_of_turn_signals = "silence"
end_of_turn_silence_ms = {silence_ms}
"""


# ----- tiny random stand-ins for the dry run ------------------------------------------------

class TinyRandomStt(SpeechToText):
    """A random projection per 80 ms of 16 kHz audio; the transcript is the question."""

    name = "tiny-random-stt"

    def __init__(self) -> None:
        self.weights = np.random.default_rng(1).standard_normal((1280, 64)).astype(np.float32)

    def open_stream(self, *, language: str | None = None) -> SttStream:
        return _TinyStream(self.weights)


class _TinyStream(SttStream):
    def __init__(self, weights: np.ndarray) -> None:
        super().__init__()
        self.weights, self.pending = weights, np.zeros(0, dtype=np.float32)

    def push(self, frame: AudioFrame) -> None:
        self.pending = np.concatenate((self.pending, frame.to_float32()))
        while len(self.pending) >= 1280:
            np.tanh(self.pending[:1280] @ self.weights)
            self.pending = self.pending[1280:]

    async def finish(self) -> str:
        return QUESTION


class TinyRandomLlm(LanguageModel):
    """A random 256x256 layer per token; `tokens` words of reply."""

    name = "tiny-random-llm"
    supports_tools = False

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens
        self.weights = np.random.default_rng(2).standard_normal((256, 256)).astype(np.float32) / 16

    async def chunks(self, messages: list[Message], tools: list[dict[str, Any]] | None,
                     tool_choice: ToolChoice = None) -> AsyncIterator[dict[str, Any]]:
        state = np.ones(256, dtype=np.float32)
        for index in range(self.tokens):
            state = np.tanh(self.weights @ state)
            word = "Paris." if index == self.tokens - 1 else "word"
            yield {"choices": [{"index": 0, "delta": {"content": word + " "}}]}
            await asyncio.sleep(0)


class TinyRandomTts(TextToSpeech):
    """Per 0.5 s of 24 kHz speech, a random layer; a quiet tone, `seconds` long per sentence."""

    name = "tiny-random-tts"

    def __init__(self, seconds: float = 1.5) -> None:
        self.seconds = seconds
        self.weights = np.random.default_rng(3).standard_normal((512, 512)).astype(np.float32) / 22

    def voice_names(self) -> list[str]:
        return ["tiny"]

    async def synthesize(self, text: str, *, voice: str | None = None,
                         style: SpeechStyle | None = None) -> AsyncIterator[AudioFrame]:
        chunk = np.arange(12000, dtype=np.float32)
        tone = 0.1 * np.sin(2 * np.pi * 220 * chunk / 24000)
        for _ in range(max(1, int(self.seconds / 0.5))):
            np.tanh(self.weights @ np.ones(512, dtype=np.float32))
            yield AudioFrame.from_float32(tone, 24000)
            await asyncio.sleep(0)


# ----- the GPU engines ----------------------------------------------------------------------

class FixedTranscript(SpeechToText):
    """An engine's streams, with the question for an empty transcript (random weights say nothing)."""

    def __init__(self, engine: SpeechToText) -> None:
        self.engine, self.name = engine, engine.name

    def open_stream(self, *, language: str | None = None) -> SttStream:
        return _FixedStream(self.engine.open_stream(language=language))

    async def aclose(self) -> None:
        await self.engine.aclose()


class _FixedStream(SttStream):
    def __init__(self, inner: SttStream) -> None:
        super().__init__()
        self.inner, self.predicts_pauses = inner, inner.predicts_pauses
        inner.on_partial = self.heard_partial
        inner.on_pause_probability = lambda p: self.on_pause_probability and self.on_pause_probability(p)

    def push(self, frame: AudioFrame) -> None:
        self.inner.push(frame)

    async def finish(self) -> str:
        return (await self.inner.finish()).strip() or QUESTION

    async def aclose(self) -> None:
        await self.inner.aclose()


def gpu_engines(max_calls: int) -> tuple[SpeechToText, TextToSpeech]:
    from modal_services.engines.chatterbox_tts import ChatterboxEngine
    from modal_services.engines.kyutai_stt import KyutaiSttEngine
    from modal_services.engines.speech_adapters import ChatterboxSpeech, KyutaiSpeechToText

    stt_engine = KyutaiSttEngine(device="cuda", batch_size=max(8, max_calls))
    stt_engine.load(random_weights=True)
    tts_engine = ChatterboxEngine(device="cuda", max_streams=max(8, max_calls))
    tts_engine.load(random_weights=True)
    tts_engine.fixed_tokens = 75  # 3.0 s of speech per sentence, as in docs/gpu-benchmarks.md
    return FixedTranscript(KyutaiSpeechToText(stt_engine)), ChatterboxSpeech(tts_engine)


def start_vllm(model: str, max_calls: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = ["vllm", "serve", model, "--host", "127.0.0.1", "--port", str(port), "--load-format", "dummy",
               "--enable-prefix-caching", "--max-model-len", "8192", "--max-num-seqs", str(max(8, max_calls)),
               "--gpu-memory-utilization", "0.35"]
    process = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return process, url + "/v1"
        except httpx.HTTPError:
            time.sleep(1)
    process.kill()
    raise SystemExit("vLLM did not come up")


# ----- the run ------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def summarize(calls: int, turns: list[dict[str, float | None]], failed: int) -> dict[str, Any]:
    row: dict[str, Any] = {"calls": calls, "turns": len(turns), "failed_calls": failed}
    for stage in (*STAGES, "after_end_of_turn"):
        values = [t[stage] for t in turns if t.get(stage) is not None]
        row[stage] = {"p50": percentile(values, 50), "p99": percentile(values, 99), "n": len(values)}
    return row


async def one_call(url: str, token: str, admin: str, question: AudioFrame, delay_s: float) -> list[dict]:
    from telephony.simulator import TwilioSimulator

    await asyncio.sleep(delay_s)
    simulator = TwilioSimulator(url, auth_token=token, admin_token=admin)
    report = await simulator.call(question, quiet_after_reply_s=1.0, max_call_s=60)
    turns = [t["latency_ms"] for t in (report.record or {}).get("turns", []) if t.get("latency_ms")]
    for t in turns:
        if t.get("voice_to_voice") is not None and t.get("end_of_turn") is not None:
            t["after_end_of_turn"] = round(t["voice_to_voice"] - t["end_of_turn"], 1)
    if not turns:
        raise RuntimeError(f"call {report.call_sid}: no answered turn in the record")
    return turns


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    from modal_services.service import create_services_app

    levels = [int(n) for n in args.calls.split(",")]
    services_token, twilio_token, admin = (secrets.token_hex(8) for _ in range(3))
    vllm = None
    if args.dry_run:
        stt, tts, llm = TinyRandomStt(), TinyRandomTts(), TinyRandomLlm(args.reply_tokens)
    else:
        stt, tts = gpu_engines(max(levels))
        llm = None
        vllm, llm_url = start_vllm(args.vllm_model, max(levels))
    rows = []
    try:
        async with AsyncExitStack() as stack:
            services = create_services_app(stt=stt, tts=tts, llm=llm or TinyRandomLlm(1), llm_model_name="tiny",
                                           token=services_token)
            services_url = await stack.enter_async_context(running_server(services))
            data = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            (data / "personas").mkdir()
            (data / "personas" / "bench.toml").write_text(PERSONA.format(silence_ms=args.end_of_turn_ms))
            port = free_port()
            settings = Settings(
                data_dir=data, persona="bench", personas_path=data / "personas", public_url=f"http://127.0.0.1:{port}",
                admin_token=SecretStr(admin), max_conversations=10_000,
                stt={"backend": "remote", "url": services_url}, tts={"backend": "remote", "url": services_url},
                llm={"backend": "openai", "base_url": llm_url if vllm else services_url + "/v1",
                     "model": args.vllm_model if vllm else "tiny", "max_tokens": args.reply_tokens},
                services={"token": services_token},
                twilio=TwilioSettings(auth_token=SecretStr(twilio_token)),
            )
            from parley.server import create_app

            app = create_app(settings, build_providers(settings))
            url = await stack.enter_async_context(running_server(app, port=port))
            question = read_wav(ROOT / "config" / "sounds" / "question.wav")
            for calls in levels:
                results = await asyncio.gather(
                    *(one_call(url, twilio_token, admin, question, args.stagger * i / calls) for i in range(calls)),
                    return_exceptions=True,
                )
                turns = [t for r in results if isinstance(r, list) for t in r]
                failed = [r for r in results if isinstance(r, BaseException)]
                for error in failed[:3]:
                    print(f"N={calls}: {type(error).__name__}: {error}", file=sys.stderr)
                rows.append(summarize(calls, turns, len(failed)))
    finally:
        if vllm is not None:
            vllm.terminate()
            vllm.wait(60)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    head = "| calls | turns | failed | " + " | ".join(f"{s} p50 / p99 (ms)" for s in (*STAGES, "after_end_of_turn"))
    lines = [head + " |", "|" + "---|" * (3 + len(STAGES) + 1)]
    for r in rows:
        cells = [f"{r[s]['p50']:.0f} / {r[s]['p99']:.0f}" for s in (*STAGES, "after_end_of_turn")]
        lines.append(f"| {r['calls']} | {r['turns']} | {r['failed_calls']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", default="1,8,32", help="concurrent calls per level")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny random stand-ins for the engines")
    parser.add_argument("--vllm-model", default="google/gemma-3-1b-it",
                        help="a model vLLM can read the config and tokenizer of (weights are dummy)")
    parser.add_argument("--reply-tokens", type=int, default=30)
    parser.add_argument("--end-of-turn-ms", type=int, default=500)
    parser.add_argument("--stagger", type=float, default=2.0, help="seconds over which a level's calls start")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    rows = asyncio.run(run(args))
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"dry_run": args.dry_run, "rows": rows}, indent=1))
    if any(r["failed_calls"] or not r["turns"] for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
