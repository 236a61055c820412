"""Where the deployed classes answer, and the PARLEY_* settings that point the agent core at them.

Used by `parley deploy` (to print them) and by the orchestrator container (to fill in what its
secret leaves out), so both agree on one mapping.
"""

from __future__ import annotations

from collections.abc import Mapping

# Class name in the Modal App for each part; each serves its web endpoint from a method `web`.
CLASS_NAMES = {"stt": "SttService", "tts": "TtsService", "llm": "LlmServer", "orchestrator": "Orchestrator"}
WEB_METHOD = "web"


def lookup_web_urls(app_name: str, environment: str | None = None) -> dict[str, str | None]:
    """The https URL of each class's web endpoint in a deployed App (needs Modal credentials)."""
    import modal

    urls: dict[str, str | None] = {}
    for part, class_name in CLASS_NAMES.items():
        instance = modal.Cls.from_name(app_name, class_name, environment_name=environment)()
        urls[part] = getattr(instance, WEB_METHOD).get_web_url()
    return urls


def agent_core_env(urls: Mapping[str, str | None], llm_model: str) -> dict[str, str]:
    """Settings (agent_core.settings) for the parts whose URL is known. No credentials here: the
    proxy auth token pair comes from the user (PARLEY_SERVICES__MODAL_KEY / _SECRET)."""
    env: dict[str, str] = {}
    if urls.get("stt"):
        env |= {"PARLEY_STT__BACKEND": "remote", "PARLEY_STT__URL": _base(urls["stt"])}
    if urls.get("tts"):
        env |= {"PARLEY_TTS__BACKEND": "remote", "PARLEY_TTS__URL": _base(urls["tts"])}
    if urls.get("llm"):
        env |= {
            "PARLEY_LLM__BACKEND": "openai",
            "PARLEY_LLM__BASE_URL": _base(urls["llm"]) + "/v1",
            "PARLEY_LLM__MODEL": llm_model,
        }
    if urls.get("orchestrator"):
        env["PARLEY_PUBLIC_URL"] = _base(urls["orchestrator"])  # what Twilio calls, and signs
    return env


def _base(url: str | None) -> str:
    return (url or "").rstrip("/")
