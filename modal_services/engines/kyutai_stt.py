"""Kyutai STT (moshi, `kyutai/stt-1b-en_fr`) engine: many live streams in one batched model state.

Plain class (no Modal): the Modal GPU class wraps it. torch/moshi are imported inside methods, so
this module imports on a CPU box without them.

One Mimi + LMGen streaming state is built for `batch_size` streams; each open stream owns one slot
(never shared). A batch step runs every slot that has a frame waiting (moshi's exec_mask leaves the
others untouched), so streams need not be in lockstep. Frames are 80 ms (1920 samples at 24 kHz);
a batch step has to finish inside 80 ms for every stream to stay real-time.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np

if TYPE_CHECKING:
    import torch
    from sentencepiece import SentencePieceProcessor

SR, FRAME = 24000, 1920
FRAME_S = FRAME / SR
HF_REPO = "kyutai/stt-1b-en_fr"
# stt-1b-en_fr's LM config (its config.json), to build the architecture without a download.
STT_1B_LM = dict(
    dim=2048, text_card=8000, existing_text_padding_id=3, n_q=32, dep_q=0, card=2048, num_heads=16,
    num_layers=16, hidden_scale=4.125, causal=True, layer_scale=None, context=750, max_period=100000,
    gating="silu", norm="rms_norm_f32", positional_embedding="rope", depformer_dim=1024,
    depformer_dim_feedforward=4224, depformer_num_heads=16, depformer_num_layers=6,
    depformer_multi_linear=True, depformer_context=8, depformer_gating="silu", depformer_pos_emb="none",
    depformer_weights_per_step=True, delays=[0] * 33, extra_heads_num_heads=4, extra_heads_dim=6,
)
PAUSE_HEAD = 2  # extra head 2, class 0: probability that the speaker has paused (semantic VAD)
SKIP_TOKENS = (0, 3)  # end-of-text padding and padding


@dataclass
class Word:
    text: str
    start_s: float  # stream time of the word's first token, less the model's 0.5 s delay


class SttStream:
    """One caller's audio. Not thread-safe by itself; different streams may step from different threads."""

    def __init__(self, engine: KyutaiSttEngine, slot: int):
        self.engine, self.slot, self.frames = engine, slot, 0
        self.pause_probability = 0.0
        self._word: Word | None = None
        self.closed = False

    def step(self, pcm: np.ndarray) -> list[Word]:
        """Feed one 80 ms frame (1920 float32 samples at 24 kHz); returns the words completed by it."""
        if self.closed:
            raise RuntimeError("stream is closed")
        token, pause = self.engine._submit(self.slot, np.asarray(pcm, np.float32).reshape(FRAME))
        self.frames += 1
        if pause is not None:
            self.pause_probability = pause
        return self._push(token)

    def _push(self, token: int | None) -> list[Word]:
        if token is None or token in SKIP_TOKENS:
            return []
        piece = self.engine._piece(token)
        t = max(0.0, self.frames * FRAME_S - self.engine.delay_s)
        if piece.startswith("▁") or self._word is None:  # a new word starts: the previous one is done
            done, self._word = self._word, Word(piece.lstrip("▁"), t)
            return [done] if done and done.text else []
        self._word.text += piece
        return []

    def flush(self) -> list[Word]:
        """The pending word (call at end of turn, after feeding `delay_s` of silence)."""
        done, self._word = self._word, None
        return [done] if done and done.text else []

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.engine._release(self.slot)


class KyutaiSttEngine:
    def __init__(self, device: str = "cuda", batch_size: int = 1, *, max_wait_s: float = 0.01,
                 cuda_graph_mimi: bool = True):
        self.device, self.batch_size = device, batch_size
        self.max_wait_s = max_wait_s  # how long a step waits for the other open streams' frames
        self.cuda_graph_mimi = cuda_graph_mimi
        self.delay_s = 0.5
        self._free: list[int] = []
        self._cv = threading.Condition()
        self._pending: dict[int, np.ndarray] = {}
        self._results: dict[int, tuple] = {}
        self._step_lock = threading.Lock()
        self._tokenizer: SentencePieceProcessor | None = None

    def load(self, random_weights: bool = False, lm_config: dict | None = None) -> None:
        """lm_config (with random_weights): overrides of STT_1B_LM, e.g. a tiny LM for CPU tests."""
        import torch
        from moshi.models import LMGen, loaders

        if random_weights:  # real architectures, random weights: for measuring without downloads
            torch.manual_seed(0)
            self.mimi = loaders.get_mimi(None, device=self.device, num_codebooks=32)
            for codebook in self.mimi.modules():  # untrained codebooks are all zeros: every input -> code 0
                if hasattr(codebook, "embedding_sum") and hasattr(codebook, "cluster_usage"):
                    # (torch types a module's attributes as Tensor | Module: this one is a buffer)
                    cast("torch.Tensor", codebook.embedding_sum).normal_()
                    codebook._embedding = None  # type: ignore[assignment]  # torch's __setattr__ type omits None
            lm = loaders.get_moshi_lm(None, lm_kwargs={**STT_1B_LM, **(lm_config or {})}, device=self.device,
                                      dtype=torch.bfloat16)
        else:
            info = loaders.CheckpointInfo.from_hf_repo(HF_REPO)
            self.mimi = info.get_mimi(device=self.device)
            lm = info.get_moshi(device=self.device, dtype=torch.bfloat16)
            self._tokenizer = info.get_text_tokenizer()
            self.delay_s = float(info.stt_config.get("audio_delay_seconds", 0.5))
        self.lm_gen = LMGen(lm, temp=0, temp_text=0.0)  # greedy, as Kyutai's STT scripts do
        self._has_heads = len(lm.extra_heads) > PAUSE_HEAD
        self.set_batch_size(self.batch_size)

    def set_batch_size(self, batch_size: int) -> None:
        """(Re)build the streaming state for `batch_size` slots; closes every open stream."""
        import torch
        from moshi.utils.compile import CUDAGraphed

        self._teardown()
        self.batch_size, self._free = batch_size, list(range(batch_size))[::-1]
        self._streaming = self.mimi.streaming(batch_size)
        self._streaming.enter_context(self.lm_gen.streaming(batch_size))
        self._mask = torch.ones(batch_size, dtype=torch.bool, device=self.device)
        cuda = torch.device(self.device).type == "cuda"
        self._encode = CUDAGraphed(self.mimi.encode, disable=not (cuda and self.cuda_graph_mimi))
        with torch.no_grad():  # warm up (graph capture) on silence, then start every slot clean
            for _ in range(3):
                self.step_batch(np.zeros((batch_size, FRAME), np.float32))
            self._reset(torch.ones(batch_size, dtype=torch.bool, device=self.device))

    def _teardown(self) -> None:
        if getattr(self, "_streaming", None):
            self._streaming.close()
        # A failed (e.g. out-of-memory) start can leave states behind that close() does not reach.
        for m in (self.mimi, self.lm_gen, self.lm_gen.lm_model):
            m._stop_streaming()

    def _reset(self, mask) -> None:
        self.mimi.reset_streaming(mask)
        self.lm_gen.reset_streaming(mask)

    @property
    def free_slots(self) -> int:
        with self._cv:
            return len(self._free)

    def open_stream(self) -> SttStream:
        import torch

        with self._cv:
            if not self._free:
                raise RuntimeError(f"all {self.batch_size} STT slots are busy")
            slot = self._free.pop()
        mask = torch.zeros(self.batch_size, dtype=torch.bool, device=self.device)
        mask[slot] = True
        with self._step_lock:
            self._reset(mask)  # a slot never inherits its previous caller's state
            # moshi's reset also sets the slot's exec mask: note it, so the next step without a frame
            # for this slot turns it off again instead of advancing it on silence
            self._mask |= mask
        return SttStream(self, slot)

    def _release(self, slot: int) -> None:
        with self._cv:
            self._free.append(slot)
            self._cv.notify_all()

    def _piece(self, token: int) -> str:
        return self._tokenizer.id_to_piece(token) if self._tokenizer else f"▁<{token}>"

    def step_batch(self, pcm: np.ndarray, active: np.ndarray | None = None):
        """One step for all slots: pcm (batch, 1920) float32; `active` marks slots that have a frame.

        Returns (text token per slot or None, pause probability per slot or None), both on the host.
        """
        import torch

        with self._step_lock, torch.no_grad():
            mask = torch.ones(self.batch_size, dtype=torch.bool) if active is None else torch.from_numpy(active)
            mask = mask.to(self.device)
            if not torch.equal(mask, self._mask):  # only slots with a frame advance their state
                self._mask.copy_(mask)
                self.mimi.set_exec_mask(mask)
                self.lm_gen.set_exec_mask(mask)
            x = torch.from_numpy(np.ascontiguousarray(pcm, np.float32)).to(self.device)[:, None]
            codes = self.last_codes = self._encode(x)
            if self._has_heads:
                out = self.lm_gen.step_with_extra_heads(codes)
                tokens, heads = out if out is not None else (None, None)
            else:
                tokens, heads = self.lm_gen.step(codes), None
            if tokens is None:
                return [None] * self.batch_size, [None] * self.batch_size
            host = torch.cat([tokens[:, 0, 0].float()[:, None],
                              heads[PAUSE_HEAD][:, 0, :1].float() if heads else torch.full_like(
                                  tokens[:, 0, :1], -1.0, dtype=torch.float)], 1).cpu().numpy()
        return [int(t) for t in host[:, 0]], [None if p < 0 else float(p) for p in host[:, 1]]

    def _submit(self, slot: int, frame: np.ndarray):
        """Queue one frame; the first waiting thread runs the batch once every open stream has a frame
        (or max_wait_s has passed), so concurrent streams share one GPU step."""
        deadline = time.monotonic() + self.max_wait_s
        with self._cv:
            self._pending[slot] = frame
            self._cv.notify_all()
            while slot not in self._results:
                n_open = self.batch_size - len(self._free)
                if self._pending and (len(self._pending) >= n_open or time.monotonic() >= deadline):
                    batch, self._pending = self._pending, {}
                    self._cv.release()
                    try:
                        results = self._run(batch)
                    finally:
                        self._cv.acquire()
                    self._results.update(results)
                    self._cv.notify_all()
                else:
                    self._cv.wait(max(0.0, deadline - time.monotonic()) or None)
            return self._results.pop(slot)

    def _run(self, batch: dict[int, np.ndarray]) -> dict[int, tuple]:
        pcm = np.zeros((self.batch_size, FRAME), np.float32)
        active = np.zeros(self.batch_size, bool)
        for slot, frame in batch.items():
            pcm[slot], active[slot] = frame, True
        tokens, pauses = self.step_batch(pcm, active)
        return {slot: (tokens[slot], pauses[slot]) for slot in batch}
