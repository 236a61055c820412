"""A Parley server with scripted providers for the talk page and WS /v1/realtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from agent_core.providers import Providers
from agent_core.session import SessionSettings
from agent_core.settings import RecordingSettings, Settings
from agent_core.storage import Database
from agent_core.testing import ScriptedLlm, ScriptedStt, ScriptedTts
from agent_core.turns import TurnSettings
from parley.local_server import free_port, running_server
from parley.server import create_app
from tests.telephony.kit import write_persona

ANSWER = "The capital of France is Paris."


def providers(**kw: Any) -> Providers:
    """Scripted models that answer the capital question; any of them can be replaced."""
    return Providers(stt=kw.get("stt") or ScriptedStt(["What is the capital of France?"]),
                     llm=kw.get("llm") or ScriptedLlm([ANSWER]), tts=kw.get("tts") or ScriptedTts())


@asynccontextmanager
async def talk_server(
    tmp_path: Path, providers: Providers, *, talk_token: str | None = None, public: bool = False,
    end_of_turn_silence_ms: int = 320,
    max_conversations: int = 100,  # instant scripted providers: capacity is not what is under test
    admin_token: str | None = None,
    record_audio: bool = False,
) -> AsyncIterator[str]:
    port = free_port()
    write_persona(tmp_path / "personas")
    settings = Settings(
        data_dir=tmp_path,
        persona="quiet",
        personas_path=tmp_path / "personas",
        max_conversations=max_conversations,
        public_url="https://talk.example" if public else None,
        talk_token=SecretStr(talk_token) if talk_token else None,
        admin_token=SecretStr(admin_token) if admin_token else None,
        recording=RecordingSettings(web=record_audio),
        session=SessionSettings(turn=TurnSettings(end_of_turn_signals="silence", min_speech_ms=96,
                                                  end_of_turn_silence_ms=end_of_turn_silence_ms)),
    )
    app = create_app(settings, providers, db=Database.for_data_dir(tmp_path))
    async with running_server(app, port=port) as url:
        yield url
