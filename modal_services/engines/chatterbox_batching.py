"""Chatterbox speed-ups: batched T3 decoding over a static KV cache, and sync-free S3Gen.

Split from chatterbox_tts.py (the engine's API and threads); imported only by it.
torch is imported inside functions, so this module imports on a CPU box without it.
"""

from __future__ import annotations

import logging
import queue
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


@dataclass(eq=False)
class Sentence:
    text: str
    last: bool  # the request's last sentence: its final chunk closes the stream
    cap: int = 1000  # most speech tokens to generate
    tokens: list = field(default_factory=list)
    next_emit: int = 0  # token count at which the next chunk goes to the vocoder
    done_frames: int = 0  # mel frames already turned into audio
    done_samples: int = 0  # audio samples emitted or held back so far
    tail: object = None  # last `fade` samples, held back to crossfade with the next chunk
    src: object = None  # vocoder excitation of the previous chunk, and its first sample
    src_start: int = 0


@dataclass(eq=False)
class Request:
    sentences: list
    voice: dict
    params: dict
    out: queue.Queue = field(default_factory=queue.Queue)
    index: int = 0
    sent: Sentence | None = None
    pos: int = 0  # next KV-cache position of this request's slot
    cancelled: bool = False
    # A seeded request's own torch.Generator: its tokens depend on its seed alone, never on
    # which other requests share the batch. None: the engine's shared generator.
    rng: object | None = None


class T3Decoder:
    """T3 decode over a fixed KV cache; rows come in (cond, uncond) pairs for classifier-free guidance."""

    def __init__(self, t3, max_streams: int, max_len: int = 1536, graphs: bool = True):
        import torch

        self.torch, self.t3, tf = torch, t3, t3.tfmr
        cfg, dev, dt = t3.cfg, t3.device, t3.speech_head.weight.dtype
        self.H, self.KVH = cfg.num_attention_heads, cfg.num_key_value_heads
        self.D = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.H
        self.B, self.L = 2 * max_streams, max_len
        self.k = [torch.zeros(self.B, self.KVH, max_len, self.D, device=dev, dtype=dt) for _ in tf.layers]
        self.v = [torch.zeros_like(k) for k in self.k]
        cos, sin = tf.rotary_emb(torch.zeros(1, device=dev, dtype=dt), torch.arange(max_len, device=dev)[None])
        self.cos, self.sin = cos[0], sin[0]
        self.ar, self.arL = torch.arange(self.B, device=dev), torch.arange(max_len, device=dev)
        self.tok, self.spos, self.pos = (torch.zeros(self.B, dtype=torch.long, device=dev) for _ in range(3))
        self.rows = sorted({r for r in (2, 4, 8, 16, 32) if r < self.B} | {self.B})
        self.buckets = [b for b in (256, 512, 1024) if b < max_len] + [max_len]
        self.use_graphs = graphs and dev.type == "cuda"
        # (rows, length bucket) -> the captured step and its output tensor
        self.graphs: dict[tuple[int, int], tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}
        self.pool = torch.cuda.graph_pool_handle() if self.use_graphs else None

    def _layer(self, i, layer, x, pos, K, V, Lb):
        F, (b, T, _) = self.torch.nn.functional, x.shape
        at, h = layer.self_attn, layer.input_layernorm(x)
        q = at.q_proj(h).view(b, T, self.H, self.D).transpose(1, 2)
        k = at.k_proj(h).view(b, T, self.KVH, self.D).transpose(1, 2)
        v = at.v_proj(h).view(b, T, self.KVH, self.D).transpose(1, 2)
        cos, sin = self.cos[pos].unsqueeze(1), self.sin[pos].unsqueeze(1)

        def rot(z):  # rotary embedding, HF's rotate_half convention
            return z * cos + self.torch.cat((-z[..., self.D // 2:], z[..., : self.D // 2]), -1) * sin

        q, k, gqa = rot(q), rot(k), self.KVH != self.H
        if T == 1:  # decode: write this token at its row's position, attend to positions <= it
            K[self.ar[:b], :, pos[:, 0]] = k[:, :, 0]
            V[self.ar[:b], :, pos[:, 0]] = v[:, :, 0]
            mask = (self.arL[:Lb][None] <= pos)[:, None, None]
            o = F.scaled_dot_product_attention(q, K[:, :, :Lb], V[:, :, :Lb], attn_mask=mask, enable_gqa=gqa)
        else:  # prefill of one (cond, uncond) pair from position 0
            K[:, :, :T], V[:, :, :T] = k, v
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
        x = x + at.o_proj(o.transpose(1, 2).reshape(b, T, -1))
        return x + layer.mlp(layer.post_attention_layernorm(x))

    def _run(self, x, pos, rows, Lb):
        for i, layer in enumerate(self.t3.tfmr.layers):
            x = self._layer(i, layer, x, pos, self.k[i][rows], self.v[i][rows], Lb)
        return self.t3.speech_head(self.t3.tfmr.norm(x[:, -1]))

    def _step(self, b, Lb):
        t3 = self.t3
        x = (t3.speech_emb(self.tok[:b]) + t3.speech_pos_emb.emb(self.spos[:b]))[:, None]
        return self._run(x, self.pos[:b, None], slice(0, b), Lb)

    def prefill(self, slot: int, embeds):
        T = embeds.shape[1]
        logits = self._run(embeds, self.arL[:T][None].expand(2, T), slice(2 * slot, 2 * slot + 2), None)
        self.pos[2 * slot: 2 * slot + 2] = T
        self.spos[2 * slot: 2 * slot + 2] = 1  # upstream embeds generated token i at speech position i + 1
        return logits

    def step(self, n_rows: int, max_pos: int):
        b = next(r for r in self.rows if r >= n_rows)
        Lb = next(L for L in self.buckets if L > max_pos)
        if not self.use_graphs:
            return self._step(b, Lb)
        if (b, Lb) not in self.graphs:
            self.graphs[(b, Lb)] = self._capture(b, Lb)
        graph, out = self.graphs[(b, Lb)]
        graph.replay()
        return out

    def _capture(self, b, Lb):
        torch, s = self.torch, self.torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):  # warm up (cuBLAS handles, allocator) off the capture
            self._step(b, Lb)
        torch.cuda.current_stream().wait_stream(s)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool, capture_error_mode="thread_local"):
            out = self._step(b, Lb)
        return graph, out

    def warmup(self):
        for b in self.rows:
            for L in self.buckets:
                self.step(b, L - 1)


def graph_estimator(est, torch, max_graphs: int = 128):
    """Replay S3Gen's flow-matching estimator (called 10x per chunk) from CUDA graphs keyed by shape.

    The graphs share one memory pool (they replay one after another). Dropping them all must also
    drop the pool id: capturing into a freed pool fails inside capture_begin, which leaves torch's
    default CUDA generator stuck in capture mode for the rest of the process.
    """
    orig, st = est.forward, {"pool": torch.cuda.graph_pool_handle(), "ok": True}
    # input shape and dtype -> the graph, its input tensors and its output
    graphs: dict[tuple[Any, ...], tuple[Any, list[Any], Any]] = {}

    def reset():
        graphs.clear()
        st["pool"] = torch.cuda.graph_pool_handle()

    def forward(x, mask, mu, t, spks=None, cond=None, r=None):
        key = tuple(x.shape) + (x.dtype,)
        if r is not None or not x.is_cuda or not st["ok"] or graphs.get(key, 0) is None:
            return orig(x, mask, mu, t, spks, cond, r)
        if key not in graphs:
            if len(graphs) >= max_graphs:
                reset()
            ins = [a.clone() for a in (x, mask, mu, t, spks, cond)]
            try:
                s = torch.cuda.Stream()
                s.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(s):
                    orig(*ins)
                torch.cuda.current_stream().wait_stream(s)
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g, pool=st["pool"], capture_error_mode="thread_local"):
                    out = orig(*ins)
                graphs[key] = (g, ins, out)
            except Exception:  # stay eager from now on rather than risk another broken capture
                logging.getLogger(__name__).exception("S3Gen estimator graph capture failed; eager")
                st["ok"] = False
                return orig(x, mask, mu, t, spks, cond, r)
        g, ins, out = graphs[key]
        for dst, src in zip(ins, (x, mask, mu, t, spks, cond), strict=True):
            dst.copy_(src)
        g.replay()
        return out

    est.forward, est.eager_forward, est.reset_cuda_graphs = forward, orig, reset


def no_sync_chunk_mask(orig):
    """upstream's add_optional_chunk_mask calls .item() (a GPU sync) 14 times per estimator call."""

    def fn(xs, masks, use_dynamic_chunk, use_dynamic_left_chunk, decoding_chunk_size, static_chunk_size,
           num_decoding_left_chunks, enable_full_context=True):
        if not use_dynamic_chunk and static_chunk_size <= 0:
            return masks  # same result: our masks never have an all-false row
        return orig(xs, masks, use_dynamic_chunk, use_dynamic_left_chunk, decoding_chunk_size,
                    static_chunk_size, num_decoding_left_chunks, enable_full_context)

    return fn
