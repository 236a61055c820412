"""`download_weights`: copy the four models from the Hugging Face hub onto the weights Volume, once.

Run by `parley deploy --download-weights` (`modal run -m modal_services.app::download_weights`).
The services then load from the Volume with the hub switched off (common.service_env), so a
cold start never downloads. Re-running is cheap: files already in the cache are skipped.
"""

from __future__ import annotations

from agent_core.deploy_settings import forwarded_env
from modal_services.common import HF_HOME, WEIGHTS_DIR, app, hf_secrets, settings, weights_volume
from modal_services.images import weights_image

# Only the files the loaders open: moshi reads the whole (small) STT repo through its config.json;
# ChatterboxTTS.from_pretrained fetches exactly these five; vLLM needs configs, tokenizer, weights.
REPOSITORIES: dict[str, list[str] | None] = {
    "kyutai/stt-1b-en_fr": None,
    "ResembleAI/chatterbox": ["ve.safetensors", "t3_cfg.safetensors", "s3gen.safetensors", "tokenizer.json", "conds.pt"],
    settings.llm.model: ["*.json", "*.safetensors", "tokenizer.model", "*.jinja"],
    settings.postcall.whisper_model: ["*.json", "model.bin", "*.txt"],  # post-call transcripts
}


@app.function(
    image=weights_image(),
    volumes={WEIGHTS_DIR: weights_volume},
    secrets=hf_secrets(),
    env={**forwarded_env(), "HF_HOME": HF_HOME},
    timeout=3600,
)
def download_weights() -> dict[str, str]:
    import os

    from huggingface_hub import snapshot_download

    token = os.environ.get("HF_TOKEN") or None  # gated repos (Gemma) need one that accepted the licence
    paths = {}
    for repo, patterns in REPOSITORIES.items():
        print(f"downloading {repo} ...", flush=True)
        paths[repo] = snapshot_download(repo, allow_patterns=patterns, token=token)
    weights_volume.commit()  # make the files visible to containers that start from now on
    return paths
