"""`parley demo`: a phone call to a local `parley serve`, placed by the Twilio simulator.

The server runs in this process on a free local port with the embedded
models; the simulator signs its webhook and streams the question as mu-law,
exactly as Twilio would, and records what the caller heard.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import SecretStr

from agent_core import demo as local_demo
from agent_core.audio.frames import AudioFrame
from agent_core.persona import load_persona
from agent_core.providers import build_providers
from agent_core.settings import Settings
from agent_core.storage import Database
from parley.local_server import free_port, running_server
from parley.server import create_app
from telephony.simulator import TwilioSimulator

Status = Callable[[str], AbstractContextManager[Any]]


def trim_silence(audio: AudioFrame, threshold: float = 0.01) -> AudioFrame:
    """The audible part of what the caller heard (the line is silent before and after the reply)."""
    samples = audio.to_float32()
    loud = np.flatnonzero(np.abs(samples) > threshold)
    if not len(loud):
        return AudioFrame(b"", audio.sample_rate)
    start, end = max(0, loud[0] - 80), min(len(samples), loud[-1] + 80)
    return AudioFrame(audio.pcm[start * 2 : end * 2], audio.sample_rate)


async def run_demo(settings: Settings, question: AudioFrame, *, in_process: bool, status: Status) -> local_demo.DemoResult:
    providers = build_providers(settings)
    with status("Loading the embedded models (speech, language, voice)...") as spinner:
        await providers.load(lambda name: spinner.update(f"Loaded {name}..."))
    if in_process:
        persona = load_persona(settings.persona, settings.personas_dir)
        with status("The caller is speaking; Parley listens and answers..."):
            try:
                return await local_demo.run_demo(providers, persona, question, settings.session)
            finally:
                await providers.aclose()
    return await _phone_call(settings, providers, question, status)


async def _phone_call(settings: Settings, providers, question: AudioFrame, status: Status) -> local_demo.DemoResult:
    port = free_port()
    auth_token, admin_token = secrets.token_hex(16), secrets.token_hex(16)
    twilio = settings.twilio.model_copy(update={"auth_token": SecretStr(auth_token), "validate_signatures": True})
    with tempfile.TemporaryDirectory(prefix="parley-demo-") as scratch:
        # The demo call's record and recording stay in the scratch folder, not the user's data (or bucket).
        recording = settings.recording.model_copy(update={"directory": Path(scratch) / "recordings", "store": None})
        local = settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}",
                                            "admin_token": SecretStr(admin_token), "recording": recording,
                                            "twilio": twilio})
        db = Database.for_data_dir(Path(scratch))
        app = create_app(local, providers, db=db)
        with status("Calling Parley: the caller speaks, Parley listens and answers..."):
            try:
                async with running_server(app, port=port) as url:
                    simulator = TwilioSimulator(url, auth_token=auth_token, admin_token=admin_token)
                    # A cold first greeting may take a few seconds to synthesise; the caller waits for it.
                    report = await simulator.call(question, quiet_after_reply_s=1.0, greeting_wait_s=10.0)
            finally:
                await providers.aclose()
    turns = (report.record or {}).get("turns", [])
    users = [t["text"] for t in turns if t["role"] == "user"]
    first_user = next((i for i, t in enumerate(turns) if t["role"] == "user"), len(turns))
    replies = [t for t in turns[first_user:] if t["role"] == "assistant"]  # not the greeting
    latency = dict(replies[0]["latency_ms"] or {}) if replies else {}
    latency["last_sound_to_reply"] = report.reply_latency_ms  # as the caller's phone measured it
    return local_demo.DemoResult(
        transcript=" ".join(users).strip(),
        reply_text=replies[0]["text"] if replies else "",
        reply_audio=trim_silence(report.heard_after(report.caller_spoke_at_s or 0.0)),
        latency_ms=latency,
    )
