"""Container images, one per class, each with its own pinned stack.

The model packages declare conflicting pins (chatterbox-tts 0.1.7: torch 2.6, numpy<2 and gradio,
whose starlette<1 clashes with FastAPI; moshi 0.2.13: torch<2.10; vLLM 0.33: torch 2.14), so each
class has its own image. Our code goes in as Python source (`add_local_python_source`: mounted at
container start, no image rebuild when it changes).
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import modal

PYTHON = "3.11"
REPO = Path(__file__).resolve().parent.parent

# What the service apps (modal_services.service + agent_core's wire protocol) import, at the
# versions the test suite runs with.
SERVICE_PACKAGES = [
    "fastapi==0.165.0",
    "python-multipart==0.0.34",  # POST /v1/audio/transcriptions uploads
    "pydantic==2.14.3",
    "pydantic-settings==2.16.3",  # agent_core.deploy_settings is read in the container too
    "soxr==1.1.0",
    "pydub==0.25.1",
    "websockets==17.4",
    "httpx==0.28.1",
]
# Python source, plus the speech playground's page (the TTS service serves it): Modal's default
# for add_local_python_source leaves every non-.py file out.
SOURCE_AND_PLAYGROUND = ~modal.FilePatternMatcher("**/*.py", "**/playground/*")
SYSTEM_PACKAGES = ["ffmpeg", "libopus0"]  # pydub decodes uploads; Opus for Discord voice


def _base() -> modal.Image:
    return modal.Image.debian_slim(python_version=PYTHON).apt_install(*SYSTEM_PACKAGES)


# The stack the engines were measured on (docs/gpu-benchmarks.md: an H100 with torch 2.11, numpy 2.x,
# transformers 5.17, and chatterbox-tts / moshi installed without their own pins).
GPU_PACKAGES = ["torch==2.11.0", "numpy==2.2.6"]


def stt_image() -> modal.Image:
    """Kyutai STT on moshi 0.2.13 and what its model code imports."""
    return (
        _base()
        .pip_install(
            *GPU_PACKAGES,
            "huggingface-hub==0.36.2",  # moshi asks for <1.0
            "safetensors==0.7.0",
            "sentencepiece==0.2.1",  # the STT text tokenizer
            "einops==0.8.2",
            "sphn==0.2.0",
            *SERVICE_PACKAGES,
        )
        # moshi pins torch<2.10 and pulls its client's audio/web stack; the engine needs neither.
        .pip_install("moshi==0.2.13", extra_options="--no-deps")
        .add_local_python_source("agent_core", "modal_services")
    )


def tts_image() -> modal.Image:
    """Chatterbox 0.1.7 and what its model code imports."""
    return (
        _base()
        .pip_install(
            *GPU_PACKAGES,
            "torchaudio==2.11.0",
            "transformers==5.17.0",
            "diffusers==0.29.0",
            "librosa==0.11.0",
            "conformer==0.3.2",
            "s3tokenizer==0.3.0",
            "resemble-perth==1.0.1",
            "omegaconf==2.4.0",
            "pyloudnorm==0.2.0",
            "soundfile==0.13.1",
            "einops==0.8.2",
            # resemble-perth imports pkg_resources, which setuptools 81 dropped; without it the
            # watermarker silently becomes None and ChatterboxTTS fails (see the engine).
            "setuptools==75.8.0",
            *SERVICE_PACKAGES,
        )
        # Its declared pins (torch 2.6, transformers 5.2, gradio for its demo) conflict with the
        # service's FastAPI and are not what the engine was measured with.
        .pip_install("chatterbox-tts==0.1.7", extra_options="--no-deps")
        .add_local_python_source("agent_core", "modal_services", ignore=SOURCE_AND_PLAYGROUND)
    )


def postcall_image() -> modal.Image:
    """The orchestrator's packages, faster-whisper on CUDA (cuBLAS and cuDNN from their wheels)."""
    return (
        orchestrator_image()
        .pip_install("faster-whisper==1.2.1", "nvidia-cublas-cu12==12.9.3.13", "nvidia-cudnn-cu12==9.28.0.42")
    )


def llm_image() -> modal.Image:
    """vLLM's OpenAI-compatible server; it brings its own torch."""
    return (
        modal.Image.debian_slim(python_version=PYTHON)
        .pip_install("vllm==0.33.0", "pydantic-settings==2.16.3")
        # agent_core only for agent_core.deploy_settings (pydantic-settings alone; agent_core's
        # __init__ imports nothing).
        .add_local_python_source("agent_core", "modal_services")
    )


def weights_image() -> modal.Image:
    """Just enough to copy repositories from the Hugging Face hub onto the Volume."""
    return (
        modal.Image.debian_slim(python_version=PYTHON)
        .pip_install("huggingface-hub==0.36.2", "pydantic-settings==2.16.3")
        .add_local_python_source("agent_core", "modal_services")  # agent_core.deploy_settings, as above
    )


def core_requirements(extras: tuple[str, ...] = ("postgres",)) -> list[str]:
    """Parley's own dependencies with only the named extras (no `local`: no torch), from the
    installed package's metadata; `postgres` so the orchestrator can keep its records in a
    PostgreSQL outside the container. Empty inside a container, which never builds images."""
    from packaging.requirements import Requirement

    try:
        requirements = metadata.requires("parley") or []
    except metadata.PackageNotFoundError:
        return []
    chosen = []
    for line in requirements:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or "extra" not in str(marker):
            chosen.append(line)
        elif any(marker.evaluate({"extra": extra}) for extra in extras):
            requirement.marker = None
            chosen.append(str(requirement))
    return chosen


def orchestrator_image() -> modal.Image:
    """`parley serve` without GPUs, plus the ONNX files turn-taking needs (Silero VAD, Smart Turn)."""
    return (
        _base()
        .pip_install(*core_requirements())
        # Model-file carriers: their declared dependencies (torch, pipecat's framework) are never used.
        .pip_install("silero-vad==6.2.3", "pipecat-ai==1.14.0", extra_options="--no-deps")
        .add_local_python_source("agent_core", "telephony", "bots", "parley", "modal_services")
        # Personas, parley.toml and the recorded apology: agent_core.paths finds them next to
        # the packages (/root/config).
        .add_local_dir(REPO / "config", "/root/config")
    )
