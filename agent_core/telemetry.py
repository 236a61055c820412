"""Prometheus metrics for `GET /metrics`: per-turn latencies, live sessions, drops, faults, refusals.

One process-wide set (prometheus-client's default registry). Channels feed it
through `watch_session`, which reads the Session's own events: the numbers are
the same ones `parley demo` prints and the benchmarks report.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from agent_core import events as ev
from agent_core.session import Session

# Voice latencies live between ~50 ms and a few seconds; finer buckets where the goals are (<1.5 s).
_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)

VOICE_TO_VOICE = Histogram(
    "parley_voice_to_voice_seconds", "Caller stops speaking -> first reply audio out", ["channel"], buckets=_BUCKETS
)
STT_FINAL = Histogram("parley_stt_final_seconds", "End of turn -> final transcript", ["channel"], buckets=_BUCKETS)
LLM_FIRST_TOKEN = Histogram(
    "parley_llm_first_token_seconds", "Final transcript -> first LLM token", ["channel"], buckets=_BUCKETS
)
TTS_FIRST_AUDIO = Histogram(
    "parley_tts_first_audio_seconds", "First sentence -> first TTS audio", ["channel"], buckets=_BUCKETS
)
BARGE_IN_REACTION = Histogram(
    "parley_barge_in_reaction_seconds", "Caller starts speaking over the bot -> bot audio stopped", ["channel"],
    buckets=_BUCKETS,
)
ACTIVE_SESSIONS = Gauge("parley_active_sessions", "Live conversations", ["channel"])
FRAMES_DROPPED = Counter("parley_frames_dropped_total", "Inbound audio dropped", ["channel", "reason"])
FRAMES_MALFORMED = Counter("parley_frames_malformed_total", "Inbound messages that were not valid", ["channel"])
PROVIDER_ERRORS = Counter("parley_provider_errors_total", "STT/LLM/TTS/tool faults (each spoken as an apology)",
                          ["channel", "stage"])
REFUSALS = Counter("parley_refusals_total", "Requests refused", ["reason"])

_LATENCIES = {
    "voice_to_voice": VOICE_TO_VOICE,
    "stt_final": STT_FINAL,
    "llm_first_token": LLM_FIRST_TOKEN,
    "tts_first_audio": TTS_FIRST_AUDIO,
}


def watch_session(session: Session, channel: str) -> None:
    """Count the session as active until it closes, and observe each turn's latencies."""
    ACTIVE_SESSIONS.labels(channel).inc()

    def on_event(event: ev.SessionEvent) -> None:
        if isinstance(event, ev.ReplyFinished):
            latency = event.latency.as_dict()
            for stage, histogram in _LATENCIES.items():
                if (ms := latency[stage]) is not None:
                    histogram.labels(channel).observe(ms / 1000.0)
        elif isinstance(event, ev.ProviderFault):
            PROVIDER_ERRORS.labels(channel, event.stage).inc()
        elif isinstance(event, ev.SessionClosed):
            ACTIVE_SESSIONS.labels(channel).dec()

    session.subscribe(on_event)


def refused(reason: str) -> None:
    """A request refused: bad_signature, bad_token, bad_admin_token, not_admin, ..."""
    REFUSALS.labels(reason).inc()


def observe_barge_in(channel: str, seconds: float) -> None:
    """The channel measured how long the bot kept talking after the caller started (e.g. until `clear`)."""
    BARGE_IN_REACTION.labels(channel).observe(seconds)
