"""Long text through the Chatterbox engine's request path: no piece outgrows T3's cache."""

from __future__ import annotations

import math
import queue
import random
import threading

import numpy as np
import pytest

from modal_services.engines.chatterbox_text import MAX_PIECE_CHARS, split_long, split_sentences
from modal_services.engines.chatterbox_tts import ChatterboxEngine

CACHE = 1536  # T3Decoder's positions per request
CONDITIONING = 34  # speaker embedding + perceiver-resampled voice prompt
SPEECH_TOKENS_PER_CHAR = 1.8  # speech at ~14 characters/s, 25 tokens/s


class CacheLimitedT3:
    """Stands in for the T3 worker: the real cache arithmetic, and a refusal where the real one would cut."""

    def __init__(self, engine: ChatterboxEngine) -> None:
        self.pieces: list[str] = []
        engine._voices[None] = {"key": "default"}
        engine._inbox = queue.Queue()
        self.inbox = engine._inbox
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        request = self.inbox.get()
        for piece in request.sentences:
            self.pieces.append(piece)
            prefill = CONDITIONING + len(piece) + 3  # text start/stop tokens and BOS
            cap = min(1000, CACHE - prefill - 16)  # as _start_sentence computes it
            needed = math.ceil(SPEECH_TOKENS_PER_CHAR * len(piece))
            if needed > cap:
                request.out.put(RuntimeError(f"T3 cache: {len(piece)} characters need {needed} tokens, cap {cap}"))
                return
            request.out.put(np.zeros(needed * 960, np.float32))  # 960 samples per speech token at 24 kHz
        request.out.put(None)


def run_on(text: str) -> tuple[list[str], list[np.ndarray]]:
    engine = ChatterboxEngine(device="cpu")
    t3 = CacheLimitedT3(engine)
    chunks = list(engine.synthesize_stream(text))
    return t3.pieces, chunks


def unpunctuated(chars: int) -> str:
    words = "the quick brown fox jumps over a lazy dog while everyone watches and nobody says anything".split()
    rng, text = random.Random(1), ""
    while len(text) < chars:
        text += rng.choice(words) + " "
    return text[:chars].strip()


def test_two_thousand_unpunctuated_characters_are_all_spoken():
    text = unpunctuated(2000)
    pieces, chunks = run_on(text)
    assert len(pieces) > 1 and all(len(p) <= MAX_PIECE_CHARS for p in pieces)
    assert " ".join(pieces).split() == text.split()  # nothing dropped, nothing repeated
    assert len(chunks) == len(pieces)


def test_the_stand_in_refuses_what_the_real_cache_cannot_hold():
    engine = ChatterboxEngine(device="cpu")
    CacheLimitedT3(engine)
    import modal_services.engines.chatterbox_tts as module

    whole = module.split_sentences
    module.split_sentences = lambda text: whole(text, max_chars=10_000)  # the splitter as it was
    try:
        with pytest.raises(RuntimeError, match="T3 cache"):
            list(engine.synthesize_stream(unpunctuated(2000)))
    finally:
        module.split_sentences = whole


def test_long_sentences_break_at_clauses_first():
    clause = "a fairly long clause about nothing in particular"  # 48 characters, no conjunction
    sentence = ", ".join([clause] * 6)
    assert split_long(sentence, 100) == [f"{clause}, {clause},"] * 2 + [f"{clause}, {clause}"]
    conj = f"{clause} and then {clause} but also {clause} and finally {clause}"
    assert all(p.split()[0] in ("a", "and", "but") for p in split_long(conj, 100))
    assert split_long("x" * 250, 100) == ["x" * 100, "x" * 100, "x" * 50]
    assert split_sentences("Short one. " + "word " * 100) == ["Short one.", *split_long(("word " * 100).strip(), 300)]
