"""Post-call jobs on a Modal GPU, `.spawn()`ed by the orchestrator when a call ends.

A thin function: it runs the call's due jobs through the same `JobWorker` as `parley worker`,
against the shared database (PARLEY_DATABASE_URL from the orchestrator's secret), with the
larger Whisper from the weights Volume for the transcript, the LLM class for the summary, and
the recording from the recordings Volume. Results, errors and cost go back to the database.
"""

from __future__ import annotations

import modal

from modal_services.common import (
    RECORDINGS_DIR,
    WEIGHTS_DIR,
    app,
    recordings_volume,
    service_env,
    settings,
    weights_volume,
)
from modal_services.images import postcall_image

POSTCALL = settings.postcall
FUNCTION_NAME = "run_post_call_jobs"


def postcall_env() -> dict[str, str | None]:  # Modal's env type
    return {**service_env(), "PARLEY_RECORDING__DIRECTORY": RECORDINGS_DIR}


@app.function(
    name=FUNCTION_NAME,
    image=postcall_image(),
    gpu=POSTCALL.gpu,
    volumes={WEIGHTS_DIR: weights_volume, RECORDINGS_DIR: recordings_volume},
    secrets=[modal.Secret.from_name(settings.orchestrator_secret)],
    env=postcall_env(),
    timeout=POSTCALL.timeout,
    max_containers=POSTCALL.max_containers,
)
def run_post_call_jobs(conversation_id: int) -> list[dict]:
    import asyncio
    import os

    from huggingface_hub import snapshot_download

    from modal_services.engines.whisper_transcriber import WhisperTranscriber
    from modal_services.orchestrator import fill_service_settings
    from modal_services.urls import lookup_web_urls
    from parley.worker import run_conversation_jobs

    recordings_volume.reload()  # the recording the orchestrator just wrote
    fill_service_settings(os.environ, lookup_web_urls(settings.app_name))  # the LLM class, for the summary
    model_dir = snapshot_download(POSTCALL.whisper_model, local_files_only=True)  # HF_HOME: the Volume
    transcriber = WhisperTranscriber(model_dir)
    transcriber.load()
    return asyncio.run(run_conversation_jobs(conversation_id, transcriber))


async def spawn_post_call_jobs(conversation_id: int) -> None:
    """The orchestrator's dispatcher: start the GPU function and return at once."""
    function = modal.Function.from_name(settings.app_name, FUNCTION_NAME)
    await function.spawn.aio(conversation_id)
