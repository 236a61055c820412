"""Tokens per second of a llama.cpp build on the embedded SmolLM2, as Parley runs it.

Compares the portable build `make` installs with any other build of the same version (e.g. a
native one, `-DGGML_NATIVE=ON`), on the same machine: each wheel is unpacked to a temporary
folder and measured in its own process.

    .venv/bin/python bench/llama_build.py                                  # the installed build
    .venv/bin/python bench/llama_build.py --wheel native=/tmp/native/llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMPT = ("You are a helpful assistant. Answer in one short sentence. " * 12).strip()


def measure(runs: int, threads: int) -> dict:
    sys.path.insert(0, str(ROOT))
    import llama_cpp

    from agent_core.llm.llama_local import smollm2_gguf_path

    llama = llama_cpp.Llama(model_path=str(smollm2_gguf_path()), n_ctx=2048, n_threads=threads, verbose=False)
    prompt_tokens = llama.tokenize(PROMPT.encode())
    prompt_rates, generation_rates = [], []
    for _ in range(runs + 1):  # the first run warms up
        llama.reset()
        start = time.perf_counter()
        llama.eval(prompt_tokens)
        prompt_rates.append(len(prompt_tokens) / (time.perf_counter() - start))
        generated, start = 0, time.perf_counter()
        for _token in llama.generate(prompt_tokens, temp=0.0, reset=False):
            generated += 1
            if generated == 64:
                break
        generation_rates.append(generated / (time.perf_counter() - start))
    return {
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
        "prompt_tokens_per_s": statistics.median(prompt_rates[1:]),
        "generation_tokens_per_s": statistics.median(generation_rates[1:]),
        "prompt_tokens": len(prompt_tokens),
        "threads": threads,
    }


def run_build(wheel: Path | None, runs: int, threads: int) -> dict:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as site:
        if wheel is not None:
            zipfile.ZipFile(wheel).extractall(site)
            env["PYTHONPATH"] = site
        done = subprocess.run([sys.executable, __file__, "--measure", "--runs", str(runs), "--threads", str(threads)],
                              env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", action="append", default=[], help="NAME=PATH of another build's wheel")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (Parley uses 1 on 2 cores)")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.runs, args.threads)))
        return
    builds: list[tuple[str, Path | None]] = [("installed (portable)", None)]
    builds += [(spec.split("=", 1)[0], Path(spec.split("=", 1)[1])) for spec in args.wheel]
    print("| build | prompt tokens/s | generation tokens/s | compiled CPU features |")
    print("|---|---|---|---|")
    for name, wheel in builds:
        result = run_build(wheel, args.runs, args.threads)
        info = result["system_info"].split(":", 1)[-1]
        features = " ".join(part.split("=")[0].strip() for part in info.split("|") if part.strip().endswith("= 1"))
        print(f"| {name} | {result['prompt_tokens_per_s']:.0f} | {result['generation_tokens_per_s']:.1f} | {features} |")


if __name__ == "__main__":
    main()
