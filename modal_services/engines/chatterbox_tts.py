"""Chatterbox TTS engine with low time-to-first-audio.

Plain class (no Modal): the Modal GPU class wraps it. torch/chatterbox are imported inside methods,
so this module imports on a CPU box without them.

Why it is faster than upstream `ChatterboxTTS.generate`:
- T3 (the 0.5B Llama that writes speech tokens) runs a static KV cache with one CUDA graph per
  (rows, length bucket): a 30-layer step is one launch instead of the HF loop (~55 tokens/s).
- One T3 worker thread decodes every open request in the same batch (continuous batching), so
  concurrent calls share each step instead of queueing behind each other.
- Speech tokens are turned into audio in chunks as they arrive (S3Gen flow + HiFT vocoder) on a
  second thread and CUDA stream, with token context before each chunk, the vocoder's excitation
  carried across and a short crossfade, so chunk boundaries do not click.
"""
from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from modal_services.engines.chatterbox_batching import Request, Sentence, T3Decoder, graph_estimator, no_sync_chunk_mask
from modal_services.engines.chatterbox_random import random_chatterbox
from modal_services.engines.chatterbox_text import split_sentences
from modal_services.engines.voice_library import VoiceLibrary

SR = 24000
HOP = 480  # S3Gen: 50 mel frames/s at 24 kHz, 2 mel frames per speech token
SOS, EOS, N_SPEECH = 6561, 6562, 6561  # tokens >= 6561 are special; S3Gen only takes < 6561
LOOKAHEAD = 3  # S3Gen's encoder looks 3 tokens ahead, so a non-final chunk ends 3 tokens early

# What the T3 thread hands the vocoder thread: request, sentence, tokens so far, whether final.
VocoderJob = tuple[Request, Sentence, int, bool]


class ChatterboxEngine:
    def __init__(self, device: str = "cuda", voices_dir: str | Path | None = None, *, max_streams: int = 8,
                 first_chunk_tokens: int = 8, chunk_tokens: int = 20, context_tokens: int = 10,
                 fade_ms: float = 20.0, watermark: bool = True, cuda_graphs: bool = True,
                 s3gen_precision: str = "fp32"):
        self.device, self.max_streams = device, max_streams
        self.library = VoiceLibrary(voices_dir)
        self.first, self.chunk, self.ctx = first_chunk_tokens, chunk_tokens, context_tokens
        self.fade, self.watermark, self.cuda_graphs = int(SR * fade_ms / 1000), watermark, cuda_graphs
        self.s3gen_precision = s3gen_precision  # "fp32" (upstream), "tf32" or "fp16": see set_s3gen_precision
        self.fixed_tokens: int | None = None  # benchmarks: force exactly this many speech tokens/sentence
        self.tts: Any = None  # the ChatterboxTTS once loaded (chatterbox carries no type information)
        self._voices: dict = {}
        self._lock = threading.Lock()
        self._threads: list = []

    # ---- loading -------------------------------------------------------------------------------
    def load(self, random_weights: bool = False, optimize: bool = True) -> None:
        import perth
        from chatterbox.tts import ChatterboxTTS

        if perth.PerthImplicitWatermarker is None:  # its import failed (needs setuptools' pkg_resources)
            raise ImportError("perth's watermarker did not import: install setuptools<81 (pkg_resources)")
        if not random_weights:
            self.tts = ChatterboxTTS.from_pretrained(self.device)
        else:  # real architectures, random weights: for measuring without model downloads
            self.tts, reference = random_chatterbox(self.device, SR)
            self.tts.conds = self._conditionals(reference)
        self._voices[None] = self._voice_from(self.tts.conds, "default")
        if optimize:
            self.optimize()

    def optimize(self) -> None:
        """Apply the speed-ups (separate from load so benchmarks can time upstream first)."""
        import torch
        from chatterbox.models.s3gen import decoder, utils
        from chatterbox.models.s3gen.transformer import upsample_encoder

        for mod in (decoder, upsample_encoder):
            mod.add_optional_chunk_mask = no_sync_chunk_mask(utils.mask.add_optional_chunk_mask)
        with torch.inference_mode():
            self._dec = T3Decoder(self.tts.t3, self.max_streams, graphs=self.cuda_graphs)
            self._dec.warmup()
        if self.cuda_graphs and torch.cuda.is_available() and "cuda" in str(self.device):
            graph_estimator(self.tts.s3gen.flow.decoder.estimator, torch)
        self.set_s3gen_precision(self.s3gen_precision)
        S, V, dev = self.max_streams, self.tts.t3.hp.speech_tokens_dict_size, self.tts.t3.device
        self._p = {k: torch.ones(S, 1, device=dev) for k in ("cfg", "temp", "minp", "rep")}
        self._eos_ok = torch.zeros(S, dtype=torch.bool, device=dev)
        self._seen = torch.zeros(S, V, dtype=torch.bool, device=dev)
        self._gen = torch.zeros(S, self._dec.L, dtype=torch.long, device=dev)
        self._cnt = torch.zeros(S, dtype=torch.long, device=dev)
        self._act = torch.zeros(2 * S, dtype=torch.long, device=dev)
        # Own generator: the default one refuses use from this thread while the vocoder thread
        # captures a CUDA graph ("Offset increment outside graph capture").
        self._rng = torch.Generator(device=dev)
        self._rng.seed()
        self._fade_in = torch.sin(torch.linspace(0, torch.pi / 2, self.fade)).pow(2).numpy()
        self._slots: list = [None] * S
        self._inbox: queue.Queue[Request | None] = queue.Queue()
        self._vq: queue.Queue[VocoderJob | None] = queue.Queue()
        sys.setswitchinterval(0.001)  # the T3 thread needs the GIL every ~2 ms step
        for fn in (self._t3_loop, self._vocoder_loop):
            self._threads.append(threading.Thread(target=fn, daemon=True, name=fn.__name__))
            self._threads[-1].start()

    def set_s3gen_precision(self, precision: str) -> None:
        """S3Gen's flow estimator runs 10x per chunk and is compute-bound in fp32. "tf32" lets matmuls use
        TF32 tensor cores (process-wide flag; cuDNN convs already do by default), "fp16" casts the
        estimator (upstream's cast_all supports it). Call while no request is in flight."""
        import torch

        assert precision in ("fp32", "tf32", "fp16"), precision
        est = self.tts.s3gen.flow.decoder.estimator
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        est.to(torch.float16 if precision == "fp16" else torch.float32)
        if hasattr(est, "reset_cuda_graphs"):
            est.reset_cuda_graphs()  # graphs hold the old weights and math mode
        self.s3gen_precision = precision

    # ---- voices --------------------------------------------------------------------------------
    def _conditionals(self, wav24):
        import tempfile

        import soundfile as sf

        with tempfile.NamedTemporaryFile(suffix=".wav") as f:
            sf.write(f.name, wav24, SR)
            self.tts.prepare_conditionals(f.name)
        return self.tts.conds

    def _voice_from(self, conds, key):
        return {"t3": conds.t3, "gen": conds.gen, "key": key}

    def voices(self) -> list[str]:
        return self.library.names()

    def _voice(self, name):
        with self._lock:
            if name not in self._voices:
                self.tts.prepare_conditionals(str(self.library.path(name)))
                self._voices[name] = self._voice_from(self.tts.conds, name)
            return self._voices[name]

    def clone_voice(self, name: str, wav_bytes: bytes) -> str:
        """Store a 3-30 s reference clip as voices_dir/<name>.wav (a namespaced `ns/name` in voices_dir/ns/)."""
        self.library.store(name, wav_bytes)
        with self._lock:
            self._voices.pop(name, None)  # a re-cloned voice is prepared afresh
        return name

    # ---- public API ----------------------------------------------------------------------------
    def synthesize_stream(self, text: str, *, voice: str | None = None, exaggeration: float = 0.5,
                          cfg_weight: float = 0.5, temperature: float = 0.8, seed: int | None = None,
                          speed: float = 1.0, min_p: float = 0.05,
                          repetition_penalty: float = 1.2) -> Iterator[np.ndarray]:
        """Yield float32 24 kHz chunks as soon as each is ready (sentence by sentence, token-chunked).

        Sentences longer than T3's cache allows are spoken clause by clause (chatterbox_text.py)."""
        sentences = split_sentences(text)
        if not sentences:
            return
        req = Request(sentences, self._voice(voice), dict(
            exaggeration=exaggeration, cfg=cfg_weight, temp=max(temperature, 1e-3), speed=speed,
            minp=min_p, rep=repetition_penalty), rng=self._request_generator(seed))
        self._inbox.put(req)
        try:
            while (item := req.out.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            req.cancelled = True

    def _request_generator(self, seed: int | None):
        """A generator of the request's own for a seed; reseeding the shared one would make every
        concurrent request's audio depend on when the others started."""
        if seed is None:
            return None
        import torch

        return torch.Generator(device=self.tts.t3.device).manual_seed(seed)

    def synthesize(self, text: str, **kw) -> np.ndarray:
        return np.concatenate(list(self.synthesize_stream(text, **kw)) or [np.zeros(0, np.float32)])


    def close(self) -> None:
        if self._threads:
            self._inbox.put(None)
            self._vq.put(None)
            for t in self._threads:
                t.join(timeout=10)
            self._threads = []

    # ---- T3 worker: continuous batching over slots ---------------------------------------------
    def _start_sentence(self, slot: int, req: Request) -> None:
        import torch
        import torch.nn.functional as F
        from chatterbox.models.t3.modules.cond_enc import T3Cond
        from chatterbox.tts import punc_norm

        t3, p, v, dev = self.tts.t3, req.params, req.voice["t3"], self.tts.t3.device
        sent = Sentence(req.sentences[req.index], req.index == len(req.sentences) - 1,
                         next_emit=self.first + LOOKAHEAD)
        tt = self.tts.tokenizer.text_to_tokens(punc_norm(sent.text)).to(dev).repeat(2, 1)
        tt = F.pad(F.pad(tt, (1, 0), value=t3.hp.start_text_token), (0, 1), value=t3.hp.stop_text_token)
        cond = T3Cond(speaker_emb=v.speaker_emb, cond_prompt_speech_tokens=v.cond_prompt_speech_tokens,
                      emotion_adv=p["exaggeration"] * torch.ones(1, 1, 1, device=dev))
        sos = torch.full((2, 1), SOS, device=dev)
        embeds, _ = t3.prepare_input_embeds(t3_cond=cond, text_tokens=tt, speech_tokens=sos,
                                            cfg_weight=1.0)  # zeroes row 1's text: the unconditional row
        bos = t3.speech_emb(sos) + t3.speech_pos_emb.get_fixed_embedding(0)
        embeds = torch.cat([embeds, bos], 1)  # upstream feeds BOS twice as well
        sent.cap = self.fixed_tokens or min(1000, self._dec.L - embeds.shape[1] - 16)
        logits = self._dec.prefill(slot, embeds)
        for k in self._p:
            self._p[k][slot] = p[k]
        self._eos_ok[slot] = self.fixed_tokens is None
        self._seen[slot] = False
        self._seen[slot, SOS] = True  # upstream's penalty history starts with BOS
        self._cnt[slot] = 0
        self._act[2 * slot: 2 * slot + 2] = 1
        self._sample(logits, torch.tensor([slot], device=dev), [req.rng])
        req.sent, req.pos, self._slots[slot] = sent, embeds.shape[1], req

    def _sample(self, logits, idx, generators):
        """CFG, repetition penalty, temperature, min-p, multinomial in upstream's order; no host sync.

        generators: per row, the request's own generator (seeded) or None (the shared one)."""
        torch, n, p = self._dec.torch, idx.shape[0], self._p
        lg = logits.view(n, 2, -1).float()
        lg = lg[:, 0] + p["cfg"][idx] * (lg[:, 0] - lg[:, 1])
        rep = p["rep"][idx]
        lg = torch.where(self._seen[idx], torch.where(lg < 0, lg * rep, lg / rep), lg) / p["temp"][idx]
        eos = torch.where(self._eos_ok[idx], lg[:, EOS], float("-inf"))
        lg[:, N_SPEECH:] = float("-inf")  # never sample the special ids that S3Gen would drop
        lg[:, EOS] = eos
        probs = lg.softmax(-1)
        lg = lg.masked_fill(probs < p["minp"][idx] * probs.amax(-1, keepdim=True), float("-inf"))
        probs = lg.softmax(-1)
        nxt = torch.multinomial(probs, 1, generator=self._rng)[:, 0]
        for row, generator in enumerate(generators):  # a seeded row draws from its own generator
            if generator is not None:
                nxt[row] = torch.multinomial(probs[row], 1, generator=generator)[0]
        self._seen[idx, nxt] = True
        self._dec.tok.view(-1, 2)[idx] = nxt[:, None].expand(n, 2)
        self._gen[idx, self._cnt[idx]] = nxt
        self._cnt[idx] += self._act.view(-1, 2)[idx, 0]

    def _t3_loop(self, k: int = 4):
        import torch

        ar = torch.arange(self.max_streams, device=self.tts.t3.device)
        back = torch.arange(k + 1, device=ar.device) - (k + 1)
        with torch.inference_mode():
            while True:
                while None in self._slots:  # admit new requests; block only when idle
                    try:
                        req = self._inbox.get_nowait() if any(self._slots) else self._inbox.get()
                    except queue.Empty:
                        break
                    if req is None:
                        return
                    slot = self._slots.index(None)
                    self._guard(req, lambda slot=slot, req=req: self._start_sentence(slot, req))
                live = [i for i, r in enumerate(self._slots) if r]
                if not live:
                    continue
                n = live[-1] + 1
                try:
                    for _ in range(k):  # k steps, then one sync to read the tokens back
                        logits = self._dec.step(2 * n, max(self._slots[i].pos for i in live) + k)
                        self._dec.pos[: 2 * n] += self._act[: 2 * n]
                        self._dec.spos[: 2 * n] += self._act[: 2 * n]
                        self._sample(logits[: 2 * n], ar[:n], [r.rng if r else None for r in self._slots[:n]])
                    cnt = self._cnt[:n, None]
                    rows = torch.cat([cnt, self._gen[:n].gather(1, (cnt + back).clamp(min=0))], 1).tolist()
                except Exception as e:  # a broken step fails every request in the batch
                    for i in live:
                        self._slots[i].out.put(e)
                        self._free(i)
                    continue
                for i in live:
                    self._guard(self._slots[i], lambda i=i, row=rows[i]: self._advance(i, row, k))

    def _advance(self, slot: int, row: list, k: int) -> None:
        req, sent = self._slots[slot], self._slots[slot].sent
        req.pos += k
        if req.cancelled:
            return self._free(slot)
        cnt, last = row[0], row[1:]
        new = last[len(last) - (cnt - len(sent.tokens)):] if cnt > len(sent.tokens) else []
        stop = EOS in new
        sent.tokens += new[: new.index(EOS)] if stop else new
        finished = stop or len(sent.tokens) >= sent.cap
        del sent.tokens[sent.cap:]
        while not finished and len(sent.tokens) >= sent.next_emit:
            self._vq.put((req, sent, sent.next_emit, False))
            sent.next_emit += self.chunk
        if finished:
            self._vq.put((req, sent, len(sent.tokens), True))
            req.index += 1
            if req.index < len(req.sentences):
                self._start_sentence(slot, req)
            else:
                self._free(slot)

    def _free(self, slot: int) -> None:
        self._slots[slot] = None
        self._act[2 * slot: 2 * slot + 2] = 0

    def _guard(self, req, fn) -> None:
        try:
            fn()
        except Exception as e:
            req.out.put(e)
            if req in self._slots:
                self._free(self._slots.index(req))

    # ---- vocoder worker: S3Gen flow + HiFT per chunk -------------------------------------------
    def _vocoder_loop(self):
        import contextlib

        import torch

        cuda = torch.cuda.is_available() and "cuda" in str(self.device)
        pending: list = []
        with torch.inference_mode(), torch.cuda.stream(torch.cuda.Stream()) if cuda else contextlib.nullcontext():
            while True:
                pending += [self._vq.get()] if not pending else []
                while not self._vq.empty():
                    pending.append(self._vq.get_nowait())
                if pending[0] is None:
                    return
                key = self._job_key(pending[0])
                batch: list[VocoderJob] = []
                for job in pending:  # same voice and window shape: one batched S3Gen call
                    if job is not None and self._job_key(job) == key and all(j[1] is not job[1] for j in batch):
                        batch.append(job)
                pending = [j for j in pending if all(j is not b for b in batch)]
                try:
                    self._vocode(batch)
                except Exception as e:
                    for job in batch:
                        job[0].out.put(e)

    def _window(self, job):
        _, sent, b, final = job
        w0 = max(0, sent.done_frames // 2 - self.ctx)  # re-decode `ctx` tokens before the new ones
        return w0, 2 * b if final else 2 * (b - LOOKAHEAD)

    def _job_key(self, job):
        w0, m_end = self._window(job)
        return job[0].voice["key"], job[2] - w0, job[3], m_end - 2 * w0, job[0].params["speed"]

    def _vocode(self, batch):
        import torch
        import torch.nn.functional as F

        s3, (req0, _, _, final) = self.tts.s3gen, batch[0]
        wins, speed = [self._window(j) for j in batch], req0.params["speed"]
        toks = torch.tensor([j[1].tokens[w0: j[2]] for j, (w0, _) in zip(batch, wins, strict=True)], device=s3.device)
        lens = torch.full((len(batch),), toks.shape[1], device=s3.device)
        # finalize=False is broken upstream (mask length mismatch), so decode the whole window and
        # drop the last LOOKAHEAD tokens' frames of a non-final chunk ourselves.
        mels, _ = s3.flow.inference(token=toks, token_len=lens, finalize=True, n_timesteps=10, **req0.voice["gen"])
        mels = mels[:, :, : wins[0][1] - 2 * wins[0][0]]

        def g(frame):  # speed: stretch the mel in time, which keeps the pitch
            return round(frame / speed)

        starts = [g(2 * w0) * HOP for w0, _ in wins]
        if speed != 1.0:
            mels = F.interpolate(mels, size=g(wins[0][1]) - g(2 * wins[0][0]), mode="linear")
        hift = s3.mel2wav
        src = hift.m_source(hift.f0_upsamp(hift.f0_predictor(mels)[:, None]).transpose(1, 2))[0].transpose(1, 2)
        for i, (job, st) in enumerate(zip(batch, starts, strict=True)):
            if job[1].src is not None:  # same excitation over the overlap keeps the phase continuous
                c = job[1].src[:, st - job[1].src_start:][:, : src.shape[-1]]
                src[i, :, : c.shape[-1]] = c
        wav = hift.decode(x=mels, s=src).float().cpu().numpy()
        for i, ((req, sent, _, final), st) in enumerate(zip(batch, starts, strict=True)):
            end = g(wins[i][1]) * HOP
            seg = np.zeros(end - st, np.float32)
            seg[: min(len(seg), wav.shape[1])] = wav[i, : len(seg)]
            seg = seg[max(0, sent.done_samples - self.fade - st):].copy()
            if sent.done_samples == 0:  # upstream fades in the first 40 ms ("reference spill-over")
                trim = s3.trim_fade.cpu().numpy()[: len(seg)]
                seg[: len(trim)] *= trim
            elif sent.tail is not None:
                n = min(self.fade, len(seg))
                seg[:n] = sent.tail[:n] * (1 - self._fade_in[:n]) + seg[:n] * self._fade_in[:n]
            sent.tail = None
            if not final and len(seg) > self.fade:
                seg, sent.tail = seg[: -self.fade], seg[-self.fade:]
            sent.done_frames, sent.done_samples, sent.src, sent.src_start = wins[i][1], end, src[i].clone(), st
            if self.watermark and len(seg):
                seg = self.tts.watermarker.apply_watermark(seg, sample_rate=SR).astype(np.float32)
            if len(seg):
                req.out.put(seg)
            if final and sent.last:
                req.out.put(None)
