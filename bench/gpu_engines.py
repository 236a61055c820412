"""GPU measurements for the speech engines (run ON the GPU machine; see docs/gpu-benchmarks.md).

Chatterbox TTS: time to first audio (TTFA) and real-time factor (RTF) for one 10-word sentence,
1 and 8 concurrent streams, upstream non-streaming path (baseline) vs ChatterboxEngine's streaming.
Kyutai STT (moshi): batch step time per batch size; the largest batch whose p99 step < 80 ms is the
number of real-time streams one GPU sustains.

Weights are RANDOM (no model hub reachable): timings are those of the real architectures, and the
generated length is fixed (75 speech tokens = 3.0 s of audio) to what a real sentence produces.

    python bench/gpu_engines.py [--out DIR] [--smoke] [--skip-tts] [--skip-stt]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench.gpu_stt import STT_BUDGET_MS, bench_stt  # noqa: E402
from bench.gpu_timing import concurrent, pct, sync  # noqa: E402

SENTENCE = "The quick brown fox jumps over the lazy dog today."
SPEECH_TOKENS = 75  # ~3.0 s at 25 tokens/s: a 10-word sentence at a normal speaking rate


def shrink_for_smoke():
    """CPU smoke test: the same code paths with tiny transformer stacks."""
    from chatterbox.models.t3 import llama_configs

    from modal_services.engines import chatterbox_random, kyutai_stt

    llama_configs.LLAMA_CONFIGS["Llama_520M"].update(num_hidden_layers=2)
    chatterbox_random.RANDOM_REF_S = 2.0
    kyutai_stt.STT_1B_LM.update(num_layers=2, dim=256, num_heads=4)


# ---------------------------------------------------------------------------------------------
# Chatterbox
# ---------------------------------------------------------------------------------------------
def upstream_once(tts, seed):
    """What ChatterboxTTS.generate does (minus watermark), with the length fixed."""
    import torch
    import torch.nn.functional as F
    from chatterbox.tts import punc_norm

    torch.manual_seed(seed)
    t3, dev = tts.t3, tts.device
    tt = tts.tokenizer.text_to_tokens(punc_norm(SENTENCE)).to(dev)
    tt = torch.cat([tt, tt])
    tt = F.pad(F.pad(tt, (1, 0), value=t3.hp.start_text_token), (0, 1), value=t3.hp.stop_text_token)
    sync()
    t0 = time.perf_counter()
    with torch.inference_mode():
        toks = t3.inference(t3_cond=tts.conds.t3, text_tokens=tt, max_new_tokens=SPEECH_TOKENS, temperature=0.8,
                            cfg_weight=0.5, repetition_penalty=1.2, min_p=0.05, top_p=1.0)
        sync()
        t1 = time.perf_counter()
        # Random weights sample ids >= 6561 that upstream drops; decode a fixed 75 valid tokens instead.
        speech = torch.randint(0, 6561, (SPEECH_TOKENS,), device=dev)
        wav, _ = tts.s3gen.inference(speech_tokens=speech, ref_dict=tts.conds.gen)
        wav = wav.squeeze(0).cpu().numpy()
    t2 = time.perf_counter()
    return dict(t3_s=t1 - t0, s3gen_s=t2 - t1, total_s=t2 - t0, steps=int(toks.shape[-1]), audio_s=len(wav) / 24000)


def stream_once(engine, seed, t_start=None):
    t0 = t_start or time.perf_counter()
    chunks, times = [], []
    for c in engine.synthesize_stream(SENTENCE, seed=seed):
        times.append(time.perf_counter() - t0)
        chunks.append(c)
    audio = np.concatenate(chunks)
    return dict(ttfa_s=times[0], total_s=times[-1], audio_s=len(audio) / 24000, chunks=len(chunks),
                nonfinite=int((~np.isfinite(audio)).sum()),
                chunk_times_s=[round(t, 4) for t in times], click=click_ratio(chunks))


def click_ratio(chunks):
    """Largest sample-to-sample jump within 5 ms of a chunk boundary over the 99.9th percentile jump
    elsewhere: about 1 or below means the boundaries are no worse than the rest of the signal."""
    audio, d = np.concatenate(chunks), None
    d = np.abs(np.diff(audio))
    edges = np.cumsum([len(c) for c in chunks])[:-1]
    near = np.zeros(len(d), bool)
    for e in edges:
        near[max(0, e - 120): e + 120] = True
    if not near.any() or near.all():
        return None
    return round(float(d[near].max() / (np.percentile(d[~near], 99.9) + 1e-12)), 3)


def correctness_checks(eng):
    """Graphed T3 step vs HF's LlamaModel, and graphed vs eager S3Gen estimator, on random inputs."""
    import torch

    t3, dec, out = eng.tts.t3, eng._dec, {}

    def rel(a, b):
        return float((a.float() - b.float()).norm() / b.float().norm())

    with torch.inference_mode():
        emb = 0.02 * torch.randn(2, 90, t3.dim, device=t3.device)
        tok = torch.randint(0, 6561, (2,), device=t3.device)
        dec.prefill(0, emb)
        dec.tok[:2], dec.spos[:2] = tok, 1
        got = dec.step(2, 90)[:2].clone()
        x = torch.cat([emb, (t3.speech_emb(tok) + t3.speech_pos_emb.emb.weight[1])[:, None]], 1)
        ref = t3.speech_head(t3.tfmr(inputs_embeds=x).last_hidden_state[:, -1])
        out["t3_graph_vs_hf_relerr"] = rel(got, ref)
        est = eng.tts.s3gen.flow.decoder.estimator
        if hasattr(est, "eager_forward"):
            T = 123
            args = [torch.randn(4, 80, T, device=t3.device), torch.ones(4, 1, T, device=t3.device),
                    torch.randn(4, 80, T, device=t3.device), torch.rand(4, device=t3.device),
                    torch.randn(4, 80, device=t3.device), torch.randn(4, 80, T, device=t3.device)]
            a = est.forward(*args).clone()
            b = est.forward(*args).clone()
            out["s3gen_graph_vs_eager_relerr"] = rel(b, est.eager_forward(*args))
            out["s3gen_graph_first_vs_replay_relerr"] = rel(a, b)
    return out


def precision_errors(eng):
    """Flow estimator output under TF32 / fp16 vs fp32, same random inputs (eager)."""
    import torch

    est, out = eng.tts.s3gen.flow.decoder.estimator, {}
    if not hasattr(est, "eager_forward"):
        return out
    dev, T = eng.tts.t3.device, 200
    args = [torch.randn(4, 80, T, device=dev), torch.ones(4, 1, T, device=dev), torch.randn(4, 80, T, device=dev),
            torch.rand(4, device=dev), torch.randn(4, 80, device=dev), torch.randn(4, 80, T, device=dev)]
    with torch.inference_mode():
        eng.set_s3gen_precision("fp32")
        ref = est.eager_forward(*args).float()
        for prec in ("tf32", "fp16"):
            eng.set_s3gen_precision(prec)
            a = [x.to(est.dtype) for x in args]
            got = est.eager_forward(*a).float()
            out[prec] = float((got - ref).norm() / ref.norm())
        eng.set_s3gen_precision("fp32")
    return out


def bench_tts(device, smoke, res):
    import torch

    from modal_services.engines import ChatterboxEngine

    reps = 1 if smoke else 5
    eng = ChatterboxEngine(device=device, max_streams=8, watermark=False)
    t0 = time.perf_counter()
    eng.load(random_weights=True, optimize=False)
    res["tts_load_s"] = time.perf_counter() - t0
    tts = eng.tts
    res["text_tokens"] = int(tts.tokenizer.text_to_tokens(SENTENCE).shape[-1]) + 2

    # -- baseline: upstream t3.inference + s3gen.inference, nothing streams ---------------------
    upstream_once(tts, 0)
    base = [upstream_once(tts, i) for i in range(reps)]
    res["baseline_1"] = base
    print("baseline x1", base, flush=True)
    if not smoke:
        runs, wall = concurrent(lambda i: upstream_once(tts, 100 + i), 8)
        res["baseline_8"] = dict(runs=runs, wall_s=wall)
        print("baseline x8 wall", wall, flush=True)

    # -- streaming engine -----------------------------------------------------------------------
    t0 = time.perf_counter()
    eng.optimize()
    res["optimize_s"] = time.perf_counter() - t0
    eng.fixed_tokens = SPEECH_TOKENS
    dec = eng._dec
    with torch.inference_mode():  # T3 graph step time, per rows (2 per stream)
        res["t3_step_ms"] = {}
        for rows in [r for r in (2, 16) if r <= dec.B]:
            dec.step(rows, 200)
            sync()
            t0 = time.perf_counter()
            for _ in range(50):
                dec.step(rows, 200)
            sync()
            res["t3_step_ms"][rows // 2] = (time.perf_counter() - t0) / 50 * 1000
    print("t3 step ms", res["t3_step_ms"], flush=True)
    res["checks"] = correctness_checks(eng)
    print("checks", res["checks"], flush=True)
    for i in range(1 if smoke else 2):  # warm-up: captures the S3Gen graphs for this sentence's chunk shapes
        stream_once(eng, 1000 + i)
    single = [stream_once(eng, 2000 + i) for i in range(reps)]
    res["stream_1"] = single
    print("stream x1", single, flush=True)
    res["precision_relerr"] = precision_errors(eng)
    print("precision relerr", res["precision_relerr"], flush=True)
    with torch.inference_mode():  # S3Gen alone on the whole sentence, optimized (sync-free, graphed)
        speech = torch.randint(0, 6561, (SPEECH_TOKENS,), device=tts.device)
        for _ in range(3):
            sync()
            t0 = time.perf_counter()
            tts.s3gen.inference(speech_tokens=speech, ref_dict=tts.conds.gen)
            sync()
            res.setdefault("s3gen_full_optimized_s", []).append(time.perf_counter() - t0)
    for prec in ("fp32", "tf32", "fp16") if not smoke else ():
        eng.set_s3gen_precision(prec)
        sfx = "" if prec == "fp32" else "_" + prec
        if prec != "fp32":
            for i in range(2):
                stream_once(eng, 1000 + i)
            res["stream_1" + sfx] = [stream_once(eng, 2000 + i) for i in range(reps)]
        for i in range(2):
            concurrent(lambda j, i=i: stream_once(eng, 3000 + 10 * i + j), 8)
        res["stream_8" + sfx] = []
        for i in range(3):
            runs, wall = concurrent(lambda j, i=i: stream_once(eng, 4000 + 10 * i + j), 8)
            res["stream_8" + sfx].append(dict(runs=runs, wall_s=wall))
            print("stream x8", prec, [round(r["ttfa_s"], 3) for r in runs], wall, flush=True)
    if not smoke:
        eng.set_s3gen_precision("fp32")
        eng.watermark = True  # upstream always watermarks; per chunk here, on the CPU
        stream_once(eng, 5000)
        res["stream_1_watermarked"] = [stream_once(eng, 5001 + i) for i in range(3)]
        eng.watermark = False
    eng.close()


# ---------------------------------------------------------------------------------------------
# Kyutai STT
# ---------------------------------------------------------------------------------------------
# ---------------------------------------------------------------------------------------------
def report(res) -> str:
    L = [f"# GPU engine benchmark ({res['device']})", "",
         f"torch {res['torch']}, python {res['python']}; RANDOM weights; sentence: \"{SENTENCE}\" "
         f"({res.get('text_tokens', '?')} text tokens, char-level stand-in tokenizer); "
         f"{SPEECH_TOKENS} speech tokens = 3.0 s of audio per sentence.", ""]
    if "baseline_1" in res:
        b = res["baseline_1"]
        L += ["## Chatterbox TTS", "", "| path | streams | TTFA p50 (s) | per-stream TTFA max (s) | RTF | notes |",
              "|---|---|---|---|---|---|"]
        L.append(f"| upstream (T3 then S3Gen) | 1 | {pct([r['total_s'] for r in b], 50):.3f} | - | "
                 f"{pct([r['total_s'] / r['audio_s'] for r in b], 50):.3f} | T3 {pct([r['t3_s'] for r in b], 50):.3f} s "
                 f"({pct([r['steps'] / r['t3_s'] for r in b], 50):.0f} tok/s), S3Gen {pct([r['s3gen_s'] for r in b], 50):.3f} s |")
        if "baseline_8" in res:
            r8 = res["baseline_8"]
            tt = [r["total_s"] for r in r8["runs"]]
            L.append(f"| upstream, 8 threads | 8 | {pct(tt, 50):.3f} | {max(tt):.3f} | "
                     f"{r8['wall_s'] / sum(r['audio_s'] for r in r8['runs']):.3f} | aggregate RTF = wall / total audio |")
        for prec in ("fp32", "tf32", "fp16"):
            sfx = "" if prec == "fp32" else "_" + prec
            s = res.get("stream_1" + sfx, [])
            if s:
                L.append(f"| streaming engine, S3Gen {prec} | 1 | {pct([r['ttfa_s'] for r in s], 50):.3f} | - | "
                         f"{pct([r['total_s'] / r['audio_s'] for r in s], 50):.3f} | {s[0]['chunks']} chunks, "
                         f"click ratio {s[0]['click']}, non-finite samples {sum(r['nonfinite'] for r in s)} |")
            s8 = res.get("stream_8" + sfx, [])
            if s8:
                tt = [r["ttfa_s"] for x in s8 for r in x["runs"]]
                rtf = [x["wall_s"] / sum(r["audio_s"] for r in x["runs"]) for x in s8]
                L.append(f"| streaming engine, S3Gen {prec} | 8 | {pct(tt, 50):.3f} | {max(tt):.3f} | "
                         f"{pct(rtf, 50):.3f} | one batched T3; aggregate RTF |")
        w = res.get("stream_1_watermarked", [])
        if w:
            L.append(f"| streaming + Perth watermark | 1 | {pct([r['ttfa_s'] for r in w], 50):.3f} | - | "
                     f"{pct([r['total_s'] / r['audio_s'] for r in w], 50):.3f} | watermark per chunk on the CPU |")
        L += ["", f"Estimator error vs fp32: {res.get('precision_relerr')}; checks: {res.get('checks')}", "",
              f"T3 graph step (ms, per batch of streams): {res.get('t3_step_ms')}; "
              f"S3Gen whole sentence optimized: {[round(x, 3) for x in res.get('s3gen_full_optimized_s', [])]} s", ""]
    if "stt_steps" in res:
        L += ["## Kyutai STT (stt-1b-en_fr architecture, bf16)", "",
              "| batch | step p50 (ms) | p99 (ms) | max (ms) | peak GPU mem (GB) | real-time (p99 < 80 ms) |",
              "|---|---|---|---|---|---|"]
        for b, r in res["stt_steps"].items():
            if "p50_ms" in r:
                L.append(f"| {b} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} | "
                         f"{r.get('gpu_mem_gb', float('nan')):.1f} | {'yes' if r['p99_ms'] < STT_BUDGET_MS else 'no'} |")
            else:
                L.append(f"| {b} | {r['error']} | | | | no |")
        L += ["", f"Largest real-time batch: **{res['stt_max_realtime_batch']}** streams per GPU.",
              f"Whole-encode CUDA graph: {res.get('stt_graph_mimi')}",
              f"Threaded path, 8 streams at real-time pace: {res.get('stt_threaded_8')}", ""]
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--smoke", action="store_true", help="CPU smoke test with tiny stacks")
    ap.add_argument("--skip-tts", action="store_true")
    ap.add_argument("--skip-stt", action="store_true")
    ap.add_argument("--stt-batches", default="1,8,32,64,128,256,384,512,640,768")
    a = ap.parse_args()
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if a.smoke:
        shrink_for_smoke()
    res = dict(device=torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu",
               torch=torch.__version__, python=platform.python_version(), smoke=a.smoke)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, fn in (("stt", lambda: bench_stt(device, a.smoke, res, [int(x) for x in a.stt_batches.split(",")])),
                     ("tts", lambda: bench_tts(device, a.smoke, res))):
        if getattr(a, f"skip_{name}"):
            continue
        try:
            fn()
        except Exception as e:  # keep what was measured; say what failed
            import traceback

            traceback.print_exc()
            res[f"{name}_error"] = f"{type(e).__name__}: {e}"
        (out / "gpu_report.json").write_text(json.dumps(res, indent=1, default=str))
    md = report(res)
    (out / "gpu_report.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
