"""What running the models behind `parley services serve` costs a turn, against running them in-process.

The same demo turn (the spoken question, Whisper base, SmolLM2, Piper) alternately through the
in-process embedded models and through the remote backends talking to `parley services serve`
in its own process on this machine, so both see the same CPU. Medians per stage and the ratio.

    python bench/remote_services.py --turns 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent_core.demo import default_question, run_demo  # noqa: E402
from agent_core.persona import load_persona  # noqa: E402
from agent_core.providers import build_providers  # noqa: E402
from agent_core.settings import Settings  # noqa: E402
from parley.local_server import free_port  # noqa: E402

STAGES = ("stt_final", "llm_first_token", "tts_first_audio", "voice_to_voice")
TOKEN = "bench-token"


def start_services(data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PARLEY_SERVICES__TOKEN": TOKEN, "PARLEY_DATA_DIR": str(data_dir)}
    process = subprocess.Popen([sys.executable, "-m", "parley.cli", "services", "serve", "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(480):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("parley services serve did not come up")


async def measure(turns: int) -> dict[str, dict[str, list[float]]]:
    data_dir = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    process, url = start_services(data_dir)
    local_settings = Settings(data_dir=data_dir)
    remote_settings = Settings(
        data_dir=data_dir, stt={"backend": "remote", "url": url}, tts={"backend": "remote", "url": url},
        llm={"backend": "openai", "base_url": url + "/v1"}, services={"token": TOKEN},
    )
    setups = {"in-process": build_providers(local_settings), "remote": build_providers(remote_settings)}
    try:
        for providers in setups.values():
            await providers.load()
        persona = load_persona("default", local_settings.personas_dir)
        question = default_question()
        results: dict[str, dict[str, list[float]]] = {name: {s: [] for s in STAGES} for name in setups}
        await run_demo(setups["remote"], persona, question, local_settings.session)  # warm the connections
        for _ in range(turns):
            for name, providers in setups.items():  # alternate, so drift hits both alike
                result = await run_demo(providers, persona, question, local_settings.session)
                for stage in STAGES:
                    if result.latency_ms.get(stage) is not None:
                        results[name][stage].append(result.latency_ms[stage])
        return results
    finally:
        for providers in setups.values():
            await providers.aclose()
        process.terminate()
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=10)
    args = parser.parse_args()
    results = asyncio.run(measure(args.turns))
    print(f"{args.turns} turns each; medians in ms\n")
    print("| stage | in-process | remote (services serve) | remote / in-process |\n|---|---|---|---|")
    for stage in STAGES:
        local, remote = (statistics.median(results[n][stage]) for n in ("in-process", "remote"))
        print(f"| {stage} | {local:.0f} | {remote:.0f} | {remote / local:.2f} |")


if __name__ == "__main__":
    main()
