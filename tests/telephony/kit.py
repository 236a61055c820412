"""A real Parley server on a local port, a fake Twilio REST edge, and helpers for phone tests."""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from fastapi import FastAPI
from pydantic import SecretStr
from twilio.http import HttpClient
from twilio.http.response import Response

from agent_core.providers import Providers
from agent_core.session import SessionSettings
from agent_core.settings import RecordingSettings, Settings, TwilioSettings
from agent_core.storage import Database
from agent_core.testing import ScriptedLlm, ScriptedStt, ScriptedTts
from agent_core.turns import EndOfTurnSignals, TurnSettings
from parley.local_server import free_port, running_server
from parley.server import create_app
from telephony.phone import Phone
from telephony.rest import TwilioRest
from telephony.simulator import TwilioSimulator

ACCOUNT_SID = "AC" + "1" * 32


class FakeTwilioHttp(HttpClient):
    """Twilio's REST API at the edge we cannot reach: records requests, answers like Twilio."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("fake-twilio"), is_async=False)
        self.requests: list[SimpleNamespace] = []

    def request(self, method, uri, params=None, data=None, headers=None, auth=None, timeout=None, allow_redirects=False):
        self.requests.append(SimpleNamespace(method=method, url=uri, data=dict(data or {}), auth=auth))
        match = re.search(r"/Calls/(CA[0-9a-f]+)\.json$", uri)
        sid = match.group(1) if match else "CA" + secrets.token_hex(16)
        body = {"sid": sid, "account_sid": ACCOUNT_SID, "status": (data or {}).get("Status", "queued")}
        return Response(200 if match else 201, json.dumps(body))


@dataclass
class Line:
    url: str
    phone: Phone
    db: Database
    rest_http: FakeTwilioHttp
    auth_token: str
    admin_token: str
    stt: ScriptedStt
    llm: ScriptedLlm
    tts: ScriptedTts
    extra: dict = field(default_factory=dict)
    app: FastAPI | None = None

    def simulator(self, **kwargs) -> TwilioSimulator:
        return TwilioSimulator(self.url, auth_token=self.auth_token, admin_token=self.admin_token, **kwargs)


def write_persona(directory: Path, name: str = "quiet", greeting: str = "") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.toml").write_text(
        f'system_prompt = "You answer phone calls."\ngreeting = "{greeting}"\napology = "Sorry, say that again?"\n'
    )


@asynccontextmanager
async def phone_line(
    tmp_path: Path,
    *,
    stt: ScriptedStt | None = None,
    llm: ScriptedLlm | None = None,
    tts: ScriptedTts | None = None,
    providers: Providers | None = None,
    greeting: str = "",
    transfer_to: str | None = None,
    validate_signatures: bool = True,
    end_of_turn_silence_ms: int = 320,
    end_of_turn_signals: EndOfTurnSignals = "silence",
    token_ttl_s: float = 60.0,
    database_url: str | None = None,
    dispatch_jobs=None,
    max_conversations: int = 100,  # instant scripted providers: capacity is not what is under test
    recording: RecordingSettings | None = None,
    batched_vad: bool = False,
) -> AsyncIterator[Line]:
    stt, llm, tts = stt or ScriptedStt(), llm or ScriptedLlm(), tts or ScriptedTts()
    providers = providers or Providers(stt=stt, llm=llm, tts=tts)
    port = free_port()
    auth_token, admin_token = secrets.token_hex(16), secrets.token_hex(16)
    write_persona(tmp_path / "personas", greeting=greeting)
    settings = Settings(
        data_dir=tmp_path,
        persona="quiet",
        personas_path=tmp_path / "personas",
        max_conversations=max_conversations,
        public_url=f"http://127.0.0.1:{port}",
        admin_token=SecretStr(admin_token),
        recording=recording or RecordingSettings(),
        batched_vad=batched_vad,
        # Silence alone by default: scripted audio then ends turns at a known point.
        session=SessionSettings(turn=TurnSettings(min_speech_ms=96, end_of_turn_silence_ms=end_of_turn_silence_ms,
                                                  end_of_turn_signals=end_of_turn_signals)),
        twilio=TwilioSettings(
            account_sid=ACCOUNT_SID,
            auth_token=SecretStr(auth_token),
            validate_signatures=validate_signatures,
            transfer_to=transfer_to,
            stream_token_ttl_s=token_ttl_s,
        ),
    )
    http = FakeTwilioHttp()
    db = Database.for_data_dir(tmp_path, database_url)
    app = create_app(settings, providers, db=db, rest=TwilioRest(ACCOUNT_SID, auth_token, http_client=http),
                     dispatch_jobs=dispatch_jobs)
    async with running_server(app, port=port) as url:
        yield Line(url, app.state.phone, db, http, auth_token, admin_token, stt, llm, tts, app=app)
