"""The one Modal App every Parley class registers on, and the Volumes and Secrets they share.

Importing this needs no Modal credentials: `Volume.from_name` and `Secret.from_name` are lazy
references that Modal resolves at `modal deploy`.
"""

from __future__ import annotations

import modal

from agent_core.deploy_settings import DeploySettings, forwarded_env

# The deploy section of the settings (`Settings.deploy`), built on its own: every image can import it.
settings = DeploySettings()
app = modal.App(settings.app_name)

WEIGHTS_DIR = "/weights"
VOICES_DIR = "/voices"
RECORDINGS_DIR = "/recordings"
# Every Hugging Face loader (moshi, chatterbox, vLLM) reads the hub cache under HF_HOME, so the
# weights `download_weights` put on the Volume are the ones the services load.
HF_HOME = f"{WEIGHTS_DIR}/hf"

weights_volume = modal.Volume.from_name(settings.volume_name, create_if_missing=True)
voices_volume = modal.Volume.from_name(settings.voices_volume_name, create_if_missing=True)
recordings_volume = modal.Volume.from_name(settings.recordings_volume_name, create_if_missing=True)


def hf_secrets() -> list[modal.Secret]:
    return [modal.Secret.from_name(settings.hf_secret)] if settings.hf_secret else []


def service_env() -> dict[str, str | None]:  # Modal's env type (None would unset a variable)
    """Env of the GPU services: the deploy's settings, and weights from the Volume only.

    HF_HUB_OFFLINE makes a missing download fail at once with the file name, instead of a cold
    start quietly pulling gigabytes from the hub (or failing later on a gated repo).
    """
    return {**forwarded_env(), "HF_HOME": HF_HOME, "HF_HUB_OFFLINE": "1"}
