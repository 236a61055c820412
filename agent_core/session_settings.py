"""What a Session can be tuned with: turn-taking, barge-in, timeouts, sizes."""

from __future__ import annotations

from pydantic import BaseModel

from agent_core.barge_in import BargeInSettings
from agent_core.turns import TurnSettings


class SessionSettings(BaseModel):
    # How many recent events a Session keeps (for diagnostics and its latency figures); a turn
    # makes about ten, and the oldest go, so a conversation of any length holds a fixed amount.
    recent_events: int = 2000
    turn: TurnSettings = TurnSettings()
    allow_interruptions: bool = True
    barge_in: BargeInSettings = BargeInSettings()
    # Audio kept from before VAD confirmed speech, so the first syllable reaches STT.
    preroll_ms: int = 500
    # A provider that has not answered in this long has failed: apologise instead of dead air.
    stt_timeout_s: float = 10.0
    llm_first_token_timeout_s: float = 8.0
    llm_token_gap_timeout_s: float = 5.0
    tts_first_audio_timeout_s: float = 8.0
    # No speech from anyone for this long: the Session emits SessionIdle (0 = never).
    idle_timeout_s: float = 120.0
    # Prompt size bound: the last N history messages follow the system prompt.
    max_history_messages: int = 24
    max_tool_rounds: int = 3
    # Size of playback chunks; also the resolution of "heard" accounting.
    playback_chunk_ms: int = 100
