"""The language model as a Modal GPU class: vLLM's OpenAI-compatible server in a subprocess.

`@modal.web_server` forwards the container's port; Modal waits up to `startup_timeout` for vLLM
to listen. No memory snapshot: the server would have to start (and hold the GPU) inside it, which
needs Modal's alpha GPU snapshots and vLLM's sleep mode; cold starts are cut with the compile
cache on the Volume instead, or `enforce_eager`.
"""

from __future__ import annotations

import modal

from agent_core.deploy_settings import LlmClass
from modal_services.common import WEIGHTS_DIR, app, service_env, settings, weights_volume
from modal_services.images import llm_image

LLM = settings.llm
PORT = 8000
# torch.compile artefacts and CUDA graphs' compile cache: kept on the Volume so that later cold
# starts reuse the first container's work (Modal commits a container's Volume writes as it stops).
VLLM_CACHE = f"{WEIGHTS_DIR}/vllm-cache"


def vllm_command(llm: LlmClass, port: int = PORT) -> list[str]:
    command = [
        "vllm", "serve", llm.model,
        "--host", "0.0.0.0", "--port", str(port),
        "--enable-prefix-caching",  # every turn resends the persona prompt and the history
        "--max-model-len", str(llm.max_model_len),
        "--max-num-seqs", str(llm.max_inputs),  # the batch vLLM may run = what Modal lets in
        "--gpu-memory-utilization", str(llm.gpu_memory_utilization),
    ]  # fmt: skip
    if llm.enforce_eager:
        command.append("--enforce-eager")
    return command


@app.cls(
    image=llm_image(),
    volumes={WEIGHTS_DIR: weights_volume},
    env={**service_env(), "VLLM_CACHE_ROOT": VLLM_CACHE},
    **settings.options(LLM),
)
@modal.concurrent(**LLM.concurrency())
class LlmServer:
    @modal.web_server(port=PORT, startup_timeout=LLM.startup_timeout, requires_proxy_auth=True)
    def web(self) -> None:
        import subprocess

        subprocess.Popen(vllm_command(LLM))
