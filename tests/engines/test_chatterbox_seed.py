"""Chatterbox's batched T3 sampler: a seeded request's tokens depend on its seed alone.

The real `_sample` runs over a stand-in language model (a fixed low-rank table from the last
token to the next token's logits), so the test needs no weights and no GPU. Rows of a batch are
concurrent requests, exactly as the T3 worker samples them.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from modal_services.engines.chatterbox_batching import Request
from modal_services.engines.chatterbox_tts import EOS, ChatterboxEngine

VOCAB = EOS + 2
SLOTS = 4
STEPS = 40


class StandInT3:
    """Next-token logits from the last token only: the same history gives the same logits in any batch row."""

    def __init__(self) -> None:
        table = torch.Generator().manual_seed(0)
        self.embed = torch.randn(VOCAB, 8, generator=table)
        self.out = torch.randn(8, VOCAB, generator=table) * 3

    def logits(self, last: torch.Tensor) -> torch.Tensor:
        cond = self.embed[last] @ self.out
        return torch.stack([cond, 0.5 * cond], 1).view(2 * len(last), VOCAB)  # (cond, uncond) row pairs


def sampler_engine() -> ChatterboxEngine:
    engine = ChatterboxEngine(device="cpu", max_streams=SLOTS)
    engine.tts = SimpleNamespace(t3=SimpleNamespace(device=torch.device("cpu")))
    engine._dec = SimpleNamespace(torch=torch, tok=torch.zeros(2 * SLOTS, dtype=torch.long))
    engine._p = {"cfg": torch.full((SLOTS, 1), 0.5), "temp": torch.full((SLOTS, 1), 0.8),
                 "minp": torch.full((SLOTS, 1), 0.05), "rep": torch.full((SLOTS, 1), 1.2)}
    engine._eos_ok = torch.zeros(SLOTS, dtype=torch.bool)  # no early stop: every step samples
    engine._seen = torch.zeros(SLOTS, VOCAB, dtype=torch.bool)
    engine._gen = torch.zeros(SLOTS, STEPS + 1, dtype=torch.long)
    engine._cnt = torch.zeros(SLOTS, dtype=torch.long)
    engine._act = torch.ones(2 * SLOTS, dtype=torch.long)
    engine._rng = torch.Generator().manual_seed(12345)  # the shared one
    return engine


def run_batch(seeds: list[int | None]) -> list[list[int]]:
    """Each seed is one concurrent request in its own slot; returns each slot's tokens."""
    engine, model = sampler_engine(), StandInT3()
    requests = [Request([], {}, {}, rng=engine._request_generator(seed)) for seed in seeds]
    rows = torch.arange(len(seeds))
    for _ in range(STEPS):
        last = engine._dec.tok.view(-1, 2)[: len(seeds), 0]
        engine._sample(model.logits(last), rows, [r.rng for r in requests])
    return [engine._gen[i, :STEPS].tolist() for i in range(len(seeds))]


def test_a_seed_gives_the_same_tokens_alone_or_beside_other_requests():
    (alone,) = run_batch([7])
    beside = run_batch([None, 99, 7, None])
    assert beside[2] == alone
    assert beside[1] != alone  # another seed, other tokens
    assert run_batch([7, 7]) == [alone, alone]  # two concurrent requests with one seed agree


@pytest.mark.parametrize("neighbours", [[None], [None, None, None]])
def test_unseeded_requests_share_the_engines_generator(neighbours):
    tokens = run_batch([*neighbours, 7])
    assert tokens[-1] == run_batch([7])[0] and all(len(set(t)) > 1 for t in tokens)
