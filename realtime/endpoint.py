"""Serving one accepted `WS /v1/realtime` connection from a persona and the server's providers.

The composition root decides who may connect and which persona and providers serve; this module
turns them into the session's starting configuration and runs the connection.
"""

from __future__ import annotations

from fastapi import WebSocket

from agent_core.persona import Persona
from agent_core.providers import Providers
from agent_core.session_settings import SessionSettings
from realtime.connection import RealtimeConnection
from realtime.protocol import ProtocolError, error_event, new_id, wants_beta
from realtime.record import RealtimeRecording
from realtime.responder import LlmTimeouts
from realtime.session_config import SessionConfig, TurnDetection


def starting_config(persona: Persona, session: SessionSettings, stt_name: str) -> SessionConfig:
    """The persona's prompt, voice and style, pcm 24 kHz both ways, server VAD with Parley's own end-of-turn
    silence and pre-roll (longer than OpenAI's 300 ms default: Whisper loses first syllables)."""
    detection = TurnDetection(silence_duration_ms=session.turn.end_of_turn_silence_ms,
                              prefix_padding_ms=session.preroll_ms)
    style = persona.style
    return SessionConfig(instructions=persona.system_prompt, voice=persona.voice,
                         speed=style.speed if style and style.speed else 1.0,
                         style=style.model_copy(update={"speed": None}) if style else None,
                         transcription={"model": stt_name, "language": persona.language}, turn_detection=detection)


async def refuse_busy(websocket: WebSocket) -> None:
    """At capacity: accept, say why in an `error` event the SDKs surface, close with 1013 (try again later)."""
    await websocket.accept()
    busy = ProtocolError("server_busy", "The server is at capacity; try again in a few minutes.",
                         error_type="server_error")
    await websocket.send_json({"event_id": new_id("event"), **error_event(busy, None)})
    await websocket.close(code=1013, reason="at capacity")


def realtime_connection(websocket: WebSocket, *, providers: Providers, persona: Persona,
                        session: SessionSettings, model: str, record_audio: bool = False) -> RealtimeConnection:
    """The connection for a socket not yet accepted: `await connection.serve()` holds it."""
    return RealtimeConnection(
        websocket, stt=providers.stt, llm=providers.llm, tts=providers.tts,
        config=starting_config(persona, session, providers.stt.name), turn=session.turn, model=model,
        beta=wants_beta(websocket.headers), language=persona.language,
        timeouts=LlmTimeouts(first_token_s=session.llm_first_token_timeout_s, token_gap_s=session.llm_token_gap_timeout_s),
        recording=RealtimeRecording() if record_audio else None,
    )
