"""Build the STT, LLM and TTS backends that settings ask for, once per process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import SecretStr

from agent_core.llm.base import LanguageModel
from agent_core.settings import Settings
from agent_core.smart_turn import SmartTurn
from agent_core.stt.base import SpeechToText
from agent_core.tts.base import TextToSpeech
from agent_core.vad import SileroVad

if TYPE_CHECKING:
    from agent_core.remote.connections import ServiceEndpoint


@dataclass
class Providers:
    stt: SpeechToText
    llm: LanguageModel
    tts: TextToSpeech
    _loaded: bool = field(default=False, init=False, repr=False)

    async def load(self, on_loaded: Callable[[str], None] | None = None) -> None:
        """Load all three concurrently, off the event loop (each backend uses its own thread). Once."""
        if self._loaded:
            return

        async def load_one(provider: SpeechToText | LanguageModel | TextToSpeech) -> None:
            await provider.load()
            if on_loaded is not None:
                on_loaded(provider.name)

        # The VAD and Smart Turn models are process-wide too; load them off the loop with the others
        # (a missing one fails here, at start, with how to install it).
        await asyncio.gather(load_one(self.stt), load_one(self.llm), load_one(self.tts),
                             asyncio.to_thread(SileroVad.shared), asyncio.to_thread(SmartTurn.shared))
        self._loaded = True

    async def aclose(self) -> None:
        await asyncio.gather(self.stt.aclose(), self.llm.aclose(), self.tts.aclose())


def build_providers(settings: Settings) -> Providers:
    return Providers(stt=_build_stt(settings), llm=_build_llm(settings), tts=build_tts(settings))


def _service_endpoint(settings: Settings, kind: str, path: str) -> tuple[str, ServiceEndpoint]:
    """The base URL of the `kind` service (stt/tts) and its WebSocket endpoint, from settings."""
    from agent_core.remote.connections import ServiceEndpoint, websocket_url

    section = getattr(settings, kind)
    if not section.url:
        raise ValueError(
            f"{kind}.backend is 'remote' but no service URL is set (PARLEY_{kind.upper()}__URL); "
            "see `parley deploy` or `parley services serve`"
        )
    endpoint = ServiceEndpoint(
        websocket_url(section.url, path),
        headers=settings.services.headers(),
        connect_timeout_s=section.connect_timeout_s,
        read_timeout_s=section.read_timeout_s,
    )
    return section.url, endpoint


def _build_stt(settings: Settings) -> SpeechToText:
    s = settings.stt
    if s.backend == "remote":
        from agent_core.remote.protocol import STT_PATH
        from agent_core.stt.remote import RemoteStt

        _, endpoint = _service_endpoint(settings, "stt", STT_PATH)
        return RemoteStt(endpoint, language=s.language)
    from agent_core.stt.whisper_local import WhisperStt

    return WhisperStt(model=s.model, cache_dir=settings.models_dir, language=s.language, chunk_length_s=s.window_s,
                      short_windows=s.short_windows)


def _build_llm(settings: Settings) -> LanguageModel:
    s = settings.llm
    if s.backend == "openai":
        from agent_core.llm.openai_chat import OpenAiChatLlm

        if not s.base_url:
            raise ValueError("llm.backend is 'openai' but no base URL is set (PARLEY_LLM__BASE_URL)")
        return OpenAiChatLlm(
            base_url=s.base_url,
            model=s.model,
            # A self-hosted `parley services serve` takes its bearer token as the API key.
            api_key=(s.api_key or settings.services.token or SecretStr("not-needed")).get_secret_value(),
            temperature=s.temperature,
            max_tokens=s.max_tokens,
            connect_timeout_s=s.connect_timeout_s,
            read_timeout_s=s.read_timeout_s,
            # Modal proxy auth (or a bearer token) for a deployed vLLM; the API key stays separate.
            extra_headers={k: v for k, v in settings.services.headers().items() if k != "Authorization"} or None,
        )
    from agent_core.llm.llama_local import LlamaCppLlm

    return LlamaCppLlm(temperature=s.temperature, max_tokens=s.max_tokens)


def build_tts(settings: Settings) -> TextToSpeech:
    s = settings.tts
    if s.backend == "remote":
        from agent_core.remote.protocol import TTS_PATH
        from agent_core.tts.base import SpeechStyle
        from agent_core.tts.remote import RemoteTts

        url, endpoint = _service_endpoint(settings, "tts", TTS_PATH)
        style = SpeechStyle(speed=s.speed) if s.speed != 1.0 else None
        return RemoteTts(endpoint, base_url=url, style=style)
    if s.backend == "piper":
        from agent_core.tts.piper_local import PiperTts

        return PiperTts(default_voice=s.voice or "joe", speed=s.speed)
    from agent_core.tts.hibari_local import HibariTts

    return HibariTts(default_voice=s.voice, speed=s.speed)
