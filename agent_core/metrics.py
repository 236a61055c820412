"""Per-turn latencies, computed from a Session's events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agent_core import events as ev

STAGES = ("end_of_turn", "stt_final", "llm_first_token", "tts_first_audio", "voice_to_voice")


@dataclass(frozen=True)
class TurnLatency:
    """Milliseconds; None where a stage did not happen in the turn.

    end_of_turn:     user stopped speaking -> turn declared over (the silence wait)
    stt_final:       turn over -> final transcript
    llm_first_token: final transcript -> first token from the LLM
    tts_first_audio: first sentence ready -> first audio from the TTS
    voice_to_voice:  user stopped speaking -> first reply audio handed to the channel
    """

    turn: int
    end_of_turn: float | None = None
    stt_final: float | None = None
    llm_first_token: float | None = None
    tts_first_audio: float | None = None
    voice_to_voice: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {stage: getattr(self, stage) for stage in STAGES}


def _ms(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start) * 1000.0, 1)


def turn_latency(turn: int, events: Iterable[ev.SessionEvent]) -> TurnLatency:
    first: dict[type, float] = {}
    last: dict[type, float] = {}
    for event in events:
        if event.turn != turn:
            continue
        first.setdefault(type(event), event.t)
        last[type(event)] = event.t
    # A turn may gather several speech segments; latency counts from the last one.
    speech_end = last.get(ev.SpeechEnded)
    turn_end = last.get(ev.TurnEnded)
    return TurnLatency(
        turn=turn,
        end_of_turn=_ms(speech_end, turn_end),
        stt_final=_ms(turn_end, last.get(ev.TranscriptFinal)),
        llm_first_token=_ms(last.get(ev.TranscriptFinal) or last.get(ev.TextInput), first.get(ev.LlmFirstToken)),
        tts_first_audio=_ms(first.get(ev.SentenceReady), first.get(ev.TtsFirstAudio)),
        voice_to_voice=_ms(speech_end, first.get(ev.FirstAudioOut)),
    )
