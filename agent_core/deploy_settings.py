"""The `deploy` section of the settings (`Settings.deploy`): what `parley deploy` asks Modal for:
names, GPUs, scaling and concurrency per class.

Read from `PARLEY_MODAL_*` env vars (nested with `__`), e.g. `PARLEY_MODAL_STT__MIN_CONTAINERS=1`,
`PARLEY_MODAL_LLM__GPU=H100`. The same variables are forwarded into every container
(`forwarded_env`), so code that reads these settings there (engine batch size, snapshot phase) sees
the values the deployment was made with. The Modal app definitions build this section on its own
(`DeploySettings()`): this module needs only pydantic-settings, which every Modal image carries,
where the rest of the settings tree would import the agent core's audio stack.

Each class scales on its own. The defaults aim at a small deployment that costs nothing while idle
(`min_containers=0`); keep one container warm (`min_containers=1`) where a cold start would be heard.
GPU sizing figures come from docs/gpu-benchmarks.md (H100); the L4/L40S figures are estimates.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent_core.tts.styles import VoicePreset

ENV_PREFIX = "PARLEY_MODAL_"


class ClassSettings(BaseModel):
    """Scaling of one Modal class. Field names follow `@app.cls` / `@modal.concurrent` arguments."""

    gpu: str | None = None
    # 0 = scale to zero when idle (no cost, a cold start on the next call); 1+ = always warm.
    min_containers: int = 0
    # A ceiling on spend and on load: Modal queues requests past it instead of starting more GPUs.
    max_containers: int | None = None
    # Extra idle containers kept while the class is busy, so a burst of calls finds one warm.
    buffer_containers: int | None = None
    # How long an idle container lingers before it stops (s). Long enough that the next turn of
    # a quiet period still finds it warm; every second of it is billed.
    scaledown_window: int = 300
    # Longest single input (s). A WebSocket (a phone call's STT or TTS stream) is one input, so
    # this is also the longest call. Modal caps it at 24 h.
    timeout: int = 3600
    # Container start, including weight loading and warm-up (s).
    startup_timeout: int = 600
    # Requests (WebSockets included) one container handles at once, and the load the autoscaler
    # aims for before it starts another container (below max_inputs, so a burst has room).
    max_inputs: int = 1
    target_inputs: int | None = None
    # CPU memory snapshot of the imports (torch and friends) taken once after deploy: cuts
    # several seconds from every later cold start. Stable Modal feature.
    memory_snapshot: bool = False
    # Also snapshot the GPU state after the model is loaded (Modal "alpha" feature, passed as an
    # experimental option): off by default, try it and measure before relying on it.
    gpu_snapshot: bool = False

    @model_validator(mode="after")
    def _check(self) -> ClassSettings:
        if self.target_inputs is not None and self.target_inputs > self.max_inputs:
            raise ValueError("target_inputs cannot exceed max_inputs")
        if self.gpu_snapshot and not self.memory_snapshot:
            raise ValueError("gpu_snapshot needs memory_snapshot (Modal snapshots the GPU as part of it)")
        return self

    def cls_options(self) -> dict[str, Any]:
        """Keyword arguments for `@app.cls` (besides image, volumes, secrets and env)."""
        options: dict[str, Any] = dict(
            gpu=self.gpu,
            min_containers=self.min_containers,
            max_containers=self.max_containers,
            buffer_containers=self.buffer_containers,
            scaledown_window=self.scaledown_window,
            timeout=self.timeout,
            startup_timeout=self.startup_timeout,
            enable_memory_snapshot=self.memory_snapshot,
        )
        if self.gpu_snapshot:
            options["experimental_options"] = {"enable_gpu_snapshot": True}
        return options

    def concurrency(self) -> dict[str, Any]:
        """Keyword arguments for `@modal.concurrent`."""
        return dict(max_inputs=self.max_inputs, target_inputs=self.target_inputs)


class SttClass(ClassSettings):
    # L4 (24 GB): one stream's state is ~0.12 GB on top of ~2.6 GB of weights, so 32 streams need
    # ~6.3 GB (measured on an H100). A batch step of 32 took 8.2 ms on an H100; an L4 has several
    # times less compute, which still leaves the step far inside the 80 ms real-time budget (an
    # estimate, not measured on an L4). An H100 holds ~512 streams but costs 5x an L4.
    gpu: str | None = "L4"
    max_inputs: int = 32  # = engine slots: every WebSocket owns one slot of the batched state
    target_inputs: int | None = 24
    max_containers: int | None = 4
    memory_snapshot: bool = True


class TtsClass(ClassSettings):
    # L4: Chatterbox (0.5B T3 + S3Gen) needs ~4 GB. With 8 streams the engine reached RTF 0.17 on an
    # H100 in fp32; an L4 has roughly a third of an H100's fp32 throughput, so expect ~0.5 and a
    # slower first chunk under full load (estimate). Hence target 4 of 8: the autoscaler adds a
    # container before every slot is busy. Use fp16 or an L40S when 8 busy streams must stay fast.
    gpu: str | None = "L4"
    max_inputs: int = 8  # = ChatterboxEngine(max_streams): one T3 batch row per stream
    target_inputs: int | None = 4
    max_containers: int | None = 8
    memory_snapshot: bool = True
    # S3Gen precision: "fp32" (upstream parity), "tf32" or "fp16" (faster; decide by listening).
    s3gen_precision: Literal["fp32", "tf32", "fp16"] = "fp32"
    # Named voices the operator publishes: {"narrator": {"clip": "ada", "style": {"exaggeration": 0.7}}},
    # a clip of the voices Volume (or "default", the checkpoint's voice) plus its default style.
    voice_presets: dict[str, VoicePreset] = {}
    # OpenAI voice names -> voices or presets, explicit: {"alloy": "narrator"}.
    voice_aliases: dict[str, str] = {}


class LlmClass(ClassSettings):
    # L40S (48 GB, 864 GB/s): Gemma 3 1B is ~2 GB of bf16 weights, so memory is not the question;
    # decoding speed is, since first token and tokens/s sit on the voice-to-voice path. An L4's
    # 300 GB/s makes every decode step roughly 3x slower for 40% of the price. vLLM batches all
    # concurrent requests into each step, so one container serves many calls.
    gpu: str | None = "L40S"
    max_inputs: int = 64  # also vLLM's --max-num-seqs
    target_inputs: int | None = 48
    max_containers: int | None = 4
    timeout: int = 600  # one completion, not a call
    startup_timeout: int = 900  # vLLM's first start compiles and captures CUDA graphs
    # vLLM snapshots would have to run the server inside the snapshot; not wired up (see llm.py).
    memory_snapshot: bool = False
    model: str = "google/gemma-3-1b-it"
    max_model_len: int = 8192  # a phone conversation's context; Gemma 3 1B allows 32k
    gpu_memory_utilization: float = 0.90
    # Skip torch.compile and CUDA graphs: a faster cold start (~tens of s) for slower decoding.
    enforce_eager: bool = False


class OrchestratorClass(ClassSettings):
    # CPU only: Parley's own per-call work is ~1 CPU-second per call-minute (docs/benchmarks.md:
    # 50 concurrent calls on 2 cores with p99 inbound lag under 20 ms), so 2 cores take 40 calls.
    gpu: str | None = None
    cpu: float = 2.0
    memory_mb: int = 2048
    max_inputs: int = 40  # each phone call is one Media Stream WebSocket (plus short webhooks)
    target_inputs: int | None = 30
    max_containers: int | None = 10
    memory_snapshot: bool = True

    def cls_options(self) -> dict[str, Any]:
        return {**super().cls_options(), "cpu": self.cpu, "memory": self.memory_mb}


class PostCallFunction(BaseModel):
    """The GPU function that runs a finished call's jobs (`.spawn()`ed by the orchestrator)."""

    # L4: Whisper large-v3 in float16 needs ~3 GB; a 10-minute recording takes well under a
    # minute on one (estimate). The function stops as soon as its call's jobs are done.
    gpu: str = "L4"
    # The larger Whisper for the accurate transcript (CTranslate2 format, from the weights Volume).
    whisper_model: str = "Systran/faster-whisper-large-v3"
    timeout: int = 1800
    max_containers: int | None = 4


class DeploySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore", populate_by_name=True
    )

    app_name: str = "parley"
    # Model weights (Hugging Face cache layout) filled once by `download_weights`.
    volume_name: str = "parley-weights"
    # Cloned voices: apart from the weights so it can be reloaded while the weights are open.
    voices_volume_name: str = "parley-voices"
    # Call recordings the orchestrator writes: on a Volume, so no container holds the only copy.
    recordings_volume_name: str = "parley-recordings"
    # HF_TOKEN for the download only (google/gemma-3-1b-it is gated: accept its licence first).
    hf_secret: str | None = "parley-hf"
    # The orchestrator's PARLEY_*, TWILIO_* variables.
    orchestrator_secret: str = "parley-orchestrator"
    # Put every class in one region (e.g. "us-east") so the orchestrator's hops stay short.
    region: str | None = None
    stt: SttClass = SttClass()
    tts: TtsClass = TtsClass()
    llm: LlmClass = LlmClass()
    orchestrator: OrchestratorClass = OrchestratorClass()
    postcall: PostCallFunction = PostCallFunction()
    # Modal's own client token, under Modal's name: the Modal CLI that `parley deploy` runs reads it,
    # Parley never does. Here so that logs redact it like every other secret setting.
    modal_token_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("MODAL_TOKEN_SECRET", "modal_token_secret")
    )

    def options(self, service: ClassSettings) -> dict[str, Any]:
        """`@app.cls` keyword arguments for one class, with the app-wide region."""
        return {**service.cls_options(), "region": self.region}


def forwarded_env(environ: os._Environ[str] | dict[str, str] | None = None) -> dict[str, str]:
    """The PARLEY_MODAL_* variables of this deploy, to set in the containers too."""
    environ = os.environ if environ is None else environ
    return {key: value for key, value in environ.items() if key.startswith(ENV_PREFIX)}
