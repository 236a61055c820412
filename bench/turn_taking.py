"""Turn-taking: false cut-offs at mid-sentence pauses, end-of-turn delay after finished sentences.

Speech: read sentences in the embedded Piper voice (synthetic) and JFK's inaugural
address (real, tests/data/jfk.wav). Whisper's word timestamps find the word
boundaries; each sentence is cut after "to", "a", "the", "and", "your", "of my",
where the reader did NOT pause (the hardest case for an audio model), and a
silence of 0.3-1.2 s is inserted there. JFK is also kept unedited, with his own
pauses. Every pause inside a sentence is an incomplete point; the end of each
sentence is a complete one.

Each case runs through the real Silero VAD and the real TurnDetector in audio
time. At every pause the real signals are computed on the audio so far (Smart
Turn; Whisper's transcript of it, then the syntactic cues and SmolLM2), and
their verdict lands after the time they actually took on this machine, so slow
signals cost silence as they would in a call. Policies compared: silence only
(300 and 500 ms), audio only, text only, fused (the default).

    python bench/turn_taking.py              # ~3-5 minutes on 2 cores
    python bench/turn_taking.py --sweep      # also a grid of thresholds, for tuning
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent_core.audio import AudioFrame, read_wav  # noqa: E402
from agent_core.audio.resample import resample  # noqa: E402
from agent_core.llm.llama_local import LlamaCppLlm  # noqa: E402
from agent_core.smart_turn import SmartTurn  # noqa: E402
from agent_core.stt.whisper_local import WhisperStt  # noqa: E402
from agent_core.turn_text import syntactic_complete_probability, text_for_scoring  # noqa: E402
from agent_core.turns import TurnDetector, TurnSettings, TurnSignal, Verdict, fuse  # noqa: E402
from agent_core.vad import WINDOW_MS, WINDOW_SAMPLES, SileroVad  # noqa: E402

RATE = 16000
SENTENCES = [
    "I would like to book a table for two at seven tonight.",
    "Can you tell me the opening hours of the museum on Sunday?",
    "My flight to Boston was cancelled and I need a new one.",
    "Please send the invoice to the address of my office.",
    "I want to change the date of my appointment.",
    "Could you check the status of my order and tell me when it ships?",
    "We are planning a trip to the mountains with our kids.",
    "Remind me to buy milk and eggs on the way home.",
    "Is it possible to pay with a credit card?",
    "I lost the key to my car and I cannot get in.",
    "How long does it take to get to the airport?",
    "What is the capital of France?",
]
CUT_AFTER = {"to", "a", "the", "and", "your"}  # plus "my" after "of" ("of my")
PAUSES_S = (0.3, 0.5, 0.8, 1.2)
LEAD_S, TAIL_S = 0.3, 3.0
SYSTEM_PROMPT = "You are a helpful assistant. Answer in one short sentence."
# Assumed, not measured: Smart Turn, a transcript, and the SmolLM2 check on a quiet fast CPU.
FAST_LATENCIES_MS = (60.0, 300.0, 30.0)
EOT_BENCH_300MS = {"VAD only": 55.6, "Smart Turn v3.2": 35.2, "LiveKit turn detector v1": 9.9}


@dataclass
class Case:
    name: str
    audio: np.ndarray
    speech_end_s: float  # where the last word ends: a turn that ends before it cut the speaker off
    pause_start_s: float | None = None  # the inserted pause (incomplete cases)
    pause_s: float = 0.0


@dataclass
class Signals:
    """What the real models said at one pause, and what each cost on this machine."""

    audio: float
    text: float | None
    transcript: str
    audio_ms: float
    stt_ms: float
    text_ms: float
    audio_cpu_ms: float
    stt_cpu_ms: float
    text_cpu_ms: float

    def latencies(self, mode: str) -> tuple[float, float, float]:
        """(audio, transcript, text check) in ms: as measured, each model's CPU time (an idle machine),
        or fixed fast ones (a faster machine or STT: what the policy does when the box is not the limit)."""
        if mode == "cpu":
            return self.audio_cpu_ms, self.stt_cpu_ms, self.text_cpu_ms
        if mode == "fast":
            return FAST_LATENCIES_MS
        return self.audio_ms, self.stt_ms, self.text_ms


@dataclass
class Outcome:
    cut_off: bool
    delay_ms: float | None  # speech end -> turn end, for complete sentences
    reply_ms: float | None = None  # speech end -> the turn is over AND its transcript is ready
    checks: list[Signals] = field(default_factory=list)


def words_with_times(stt: WhisperStt, samples: np.ndarray) -> list[tuple[str, float, float]]:
    segments, _ = stt._model.transcribe(samples, language="en", word_timestamps=True, beam_size=1, temperature=0.0)
    return [(w.word.strip(" ,.?!").lower(), w.start, w.end) for s in segments for w in s.words]


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.float32)


def speech_end(samples: np.ndarray) -> float:
    loud = np.flatnonzero(np.abs(samples) > 0.02)
    return (loud[-1] + 1) / RATE if len(loud) else 0.0


def build_cases(stt: WhisperStt, sentences: list[np.ndarray], jfk: np.ndarray) -> tuple[list[Case], list[Case]]:
    incomplete, complete = [], []
    pauses = itertools.cycle(PAUSES_S)
    for index, audio in enumerate([*sentences, jfk]):
        name = "jfk" if index == len(sentences) else f"s{index + 1}"
        words = words_with_times(stt, audio)
        end = speech_end(audio)
        complete.append(Case(f"{name} complete", np.concatenate((silence(LEAD_S), audio, silence(TAIL_S))), LEAD_S + end))
        for i, (word, _start, word_end) in enumerate(words[:-1]):
            if word not in CUT_AFTER and not (word == "my" and i and words[i - 1][0] == "of"):
                continue
            cut = int((word_end + words[i + 1][1]) / 2 * RATE)
            pause = next(pauses)
            joined = np.concatenate((silence(LEAD_S), audio[:cut], silence(pause), audio[cut:], silence(TAIL_S)))
            incomplete.append(
                Case(f"{name} after '{word}' {pause}s", joined, LEAD_S + end + pause, LEAD_S + cut / RATE, pause)
            )
    return incomplete, complete


class SignalSource:
    """Runs the real models once per (case, pause) and remembers what they said."""

    def __init__(self, smart_turn: SmartTurn, stt: WhisperStt, llm: LlamaCppLlm, latency: str = "wall") -> None:
        self.smart_turn, self.stt, self.llm = smart_turn, stt, llm
        self.latency = latency
        self._cache: dict[tuple[str, int], Signals] = {}

    async def at(self, case: Case, samples_heard: int) -> Signals:
        key = (case.name, samples_heard)
        if key not in self._cache:
            self._cache[key] = await self._measure(case.audio[:samples_heard])
        return self._cache[key]

    async def _measure(self, heard: np.ndarray) -> Signals:
        wall, cpu = time.perf_counter(), time.process_time()
        audio = self.smart_turn.complete_probability_blocking(heard)
        audio_ms, audio_cpu = (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000
        wall, cpu = time.perf_counter(), time.process_time()
        transcript = self.stt.transcribe_blocking(heard)
        stt_ms, stt_cpu = (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000
        wall, cpu = time.perf_counter(), time.process_time()
        text = syntactic_complete_probability(transcript)
        if text is None and transcript.strip():
            messages = [{"role": "system", "content": SYSTEM_PROMPT}]
            text = await self.llm.end_of_turn_probability(messages, text_for_scoring(transcript))
        text_ms, text_cpu = (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000
        return Signals(audio, text, transcript, audio_ms, stt_ms, text_ms, audio_cpu, stt_cpu, text_cpu)


def verdict_delay_ms(settings: TurnSettings, signals: Signals, mode: str) -> tuple[Verdict, float]:
    """The verdict the Listener would reach and how long after the pause it would land."""
    audio_ms, stt_ms, text_ms = signals.latencies(mode)
    text_ready_ms = stt_ms + text_ms
    if settings.end_of_turn_signals == "audio":
        return fuse(settings, signals.audio, None), audio_ms
    if settings.end_of_turn_signals == "text":
        return fuse(settings, None, signals.text), text_ready_ms
    if fuse(settings, signals.audio, None) is Verdict.INCOMPLETE:
        return Verdict.INCOMPLETE, audio_ms
    return fuse(settings, signals.audio, signals.text), max(audio_ms, text_ready_ms)


async def run_case(case: Case, probabilities: list[float], settings: TurnSettings, source: SignalSource) -> Outcome:
    detector = TurnDetector(settings, WINDOW_MS)
    pending: tuple[int, Verdict, float] | None = None  # (pause id, verdict, lands at ms of audio)
    checks = []
    transcript_ready_ms = 0.0  # Whisper starts at every pause (early transcript), whatever the policy
    early_pause = -1
    for index, probability in enumerate(probabilities):
        now_ms = (index + 1) * WINDOW_MS
        signal = detector.process(probability)
        heard = (index + 1) * WINDOW_SAMPLES
        if detector.in_speech and detector.silence_ms >= settings.early_transcript_silence_ms and early_pause != detector.pause_id:
            early_pause = detector.pause_id
            transcript_ready_ms = now_ms + (await source.at(case, heard)).latencies(source.latency)[1]
        if signal is TurnSignal.PAUSED:
            signals = await source.at(case, heard)
            checks.append(signals)
            verdict, delay = verdict_delay_ms(settings, signals, source.latency)
            pending = (detector.pause_id, verdict, now_ms + delay)
        elif pending is not None and now_ms >= pending[2]:
            signal = detector.set_verdict(pending[0], pending[1])
            pending = None
        if signal is TurnSignal.TURN_ENDED:
            ended_s = now_ms / 1000
            if ended_s < case.speech_end_s:
                return Outcome(True, None, None, checks)
            reply_s = max(ended_s, transcript_ready_ms / 1000)
            return Outcome(False, (ended_s - case.speech_end_s) * 1000, (reply_s - case.speech_end_s) * 1000, checks)
    return Outcome(False, None, None, checks)


def vad_probabilities(samples: np.ndarray) -> list[float]:
    stream = SileroVad.shared().stream()
    return stream.process(AudioFrame.from_float32(samples, RATE))


POLICIES = {
    "silence only, 300 ms": TurnSettings(end_of_turn_signals="silence", end_of_turn_silence_ms=300),
    "silence only, 500 ms (before)": TurnSettings(end_of_turn_signals="silence", end_of_turn_silence_ms=500),
    "audio only (Smart Turn v3.2)": TurnSettings(end_of_turn_signals="audio"),
    "text only (cues + SmolLM2)": TurnSettings(end_of_turn_signals="text"),
    "fused (default)": TurnSettings(),
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


@dataclass
class Result:
    cut_off_percent: float
    delays: list[float]
    reply_delays: list[float]
    cut_complete: int  # complete sentences (JFK) ended inside their own pauses
    checks: list[Signals]


async def evaluate(settings, incomplete, complete, vad, source) -> Result:
    cut = 0
    delays: list[float] = []
    reply_delays: list[float] = []
    checks: list[Signals] = []
    for case in incomplete:
        outcome = await run_case(case, vad[case.name], settings, source)
        cut += outcome.cut_off
        checks += outcome.checks
    for case in complete:
        outcome = await run_case(case, vad[case.name], settings, source)
        checks += outcome.checks
        if outcome.delay_ms is not None:
            delays.append(outcome.delay_ms)
            reply_delays.append(outcome.reply_ms)
    return Result(100.0 * cut / len(incomplete), delays, reply_delays, len(complete) - len(delays), checks)


def p50_p90(values: list[float]) -> str:
    return f"{percentile(values, 50):.0f} / {percentile(values, 90):.0f}" if values else "-"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", action="store_true", help="also print a grid of fused thresholds")
    parser.add_argument("--latency", choices=("wall", "cpu", "fast", "all"), default="all",
                        help="signal latencies as measured here (wall), as each model's CPU time (an idle "
                        "machine; conservative for Whisper, which uses both cores), fixed fast ones "
                        "(FAST_LATENCIES_MS, assumed), or all three tables")
    args = parser.parse_args()

    from piper import PiperVoice, SynthesisConfig

    from agent_core.tts.piper_local import joe_voice_path

    stt = WhisperStt(model="base", cache_dir=Path.home() / ".cache" / "parley-bench")
    llm = LlamaCppLlm()
    await asyncio.gather(stt.load(), llm.load())
    smart_turn = SmartTurn.shared()
    voice = PiperVoice.load(joe_voice_path())
    steady = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)  # the same audio every run
    sentences = []
    for text in SENTENCES:
        chunks = list(voice.synthesize(text, syn_config=steady))
        frame = AudioFrame(b"".join(c.audio_int16_bytes for c in chunks), chunks[0].sample_rate)
        sentences.append(resample(frame, RATE).to_float32())
    jfk = read_wav(ROOT / "tests" / "data" / "jfk.wav").to_float32()
    incomplete, complete = build_cases(stt, sentences, jfk)
    vad = {case.name: vad_probabilities(case.audio) for case in (*incomplete, *complete)}
    source = SignalSource(smart_turn, stt, llm)
    print(f"{len(incomplete)} incomplete pauses (0.3-1.2 s, inserted mid-sentence), {len(complete)} complete sentences "
          "(JFK unedited among them, his own pauses counted as incomplete)")
    all_checks: list[Signals] = []
    for mode in ("wall", "cpu", "fast") if args.latency == "all" else (args.latency,):
        source.latency = mode
        label = {"wall": "as measured on this machine", "cpu": "each model's CPU time (an idle machine)",
                 "fast": f"assumed fast: Smart Turn, transcript, SmolLM2 = {FAST_LATENCIES_MS} ms"}[mode]
        print(f"\nSignal latencies: {label}\n")
        print("| policy | false cut-offs at incomplete pauses | JFK cut inside his sentence "
              "| complete sentence: silence until the turn ends, p50 / p90 (ms) "
              "| ... until the turn is over and its transcript ready (the reply can start) |")
        print("|---|---|---|---|---|")
        for name, settings in POLICIES.items():
            result = await evaluate(settings, incomplete, complete, vad, source)
            all_checks += result.checks
            print(f"| {name} | {result.cut_off_percent:.1f}% | {'yes' if result.cut_complete else 'no'} "
                  f"| {p50_p90(result.delays)} | {p50_p90(result.reply_delays)} |")
        for name, figure in EOT_BENCH_300MS.items():
            print(f"| *theirs: eot-bench, {name}, at 300 ms* | *{figure}%* | | | |")
    print("\nmodel cost per check (ms, median; wall on this machine / CPU time of the process)")
    for label, values in (
        ("Smart Turn v3.2, wall", [c.audio_ms for c in all_checks]),
        ("Smart Turn v3.2, CPU", [c.audio_cpu_ms for c in all_checks]),
        ("Whisper base transcript so far, wall", [c.stt_ms for c in all_checks]),
        ("cues + SmolLM2 P(end), wall", [c.text_ms for c in all_checks]),
        ("Whisper base transcript so far, CPU", [c.stt_cpu_ms for c in all_checks]),
        ("cues + SmolLM2 P(end), CPU", [c.text_cpu_ms for c in all_checks]),
    ):
        print(f"  {label}: {statistics.median(values):.0f} (p90 {percentile(values, 90):.0f})")
    if args.sweep:
        print("\nfused sweep: audio_complete, text_complete, unsure silence -> cut-offs, JFK cut, turn end p50/p90, reply p50")
        print(f"(signal latencies: {source.latency})")
        for audio_complete, text_complete, unsure_ms in itertools.product((0.5, 0.8), (0.03, 0.1, 0.2), (800, 1200)):
            settings = TurnSettings(audio_complete=audio_complete, text_complete=text_complete,
                                    end_of_turn_silence_ms=unsure_ms)
            result = await evaluate(settings, incomplete, complete, vad, source)
            print(f"  {audio_complete} {text_complete} {unsure_ms}: {result.cut_off_percent:.1f}% {result.cut_complete} "
                  f"{p50_p90(result.delays)} {percentile(result.reply_delays, 50):.0f}")
    await stt.aclose()
    await llm.aclose()


if __name__ == "__main__":
    asyncio.run(main())
