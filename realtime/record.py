"""A Realtime conversation's record: its session events and its audio, once the connection is over.

The client drives a Realtime conversation: it may truncate a reply to what its listener heard, or
delete items, after the response is done. So its record is written from the items as they stand
when the socket closes, in conversation order: what the user said, what the agent said (and
whether it was cut short), and each tool call with its output.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from agent_core import events as ev
from agent_core.audio.frames import AudioFrame
from agent_core.audio.resample import resample
from agent_core.metrics import TurnLatency
from agent_core.recording import MAX_RECORDING_S, stereo_wav
from realtime.conversation import Conversation, part_text

USER = "user"
RECORDING_RATE = 24000  # the Realtime API's own pcm rate
# The response latencies the record keeps, by TurnLatency's names.
_LATENCIES = ("llm_first_token", "tts_first_audio", "voice_to_voice")


def record_events(conversation: Conversation) -> Iterator[ev.SessionEvent]:
    now, turn = time.monotonic(), 0
    outputs = {i.wire.get("call_id"): str(i.wire.get("output", "")) for i in conversation.items
               if i.wire["type"] == "function_call_output"}
    for item in conversation.items:
        wire = item.wire
        if wire["type"] == "message":
            text = " ".join(t for part in wire.get("content") or [] if (t := part_text(part))).strip()
            if not text:
                continue
            if wire["role"] == "assistant":
                latency = TurnLatency(turn, **{k: float(v) for k, v in item.latency_ms.items() if k in _LATENCIES})
                yield ev.ReplyFinished(t=now, turn=turn, text=text, heard_text=text,
                                       interrupted=wire.get("status") == "incomplete", latency=latency)
            elif wire["role"] == "user":
                turn += 1
                yield ev.TranscriptFinal(t=now, turn=turn, speaker=USER, text=text)
        elif wire["type"] == "function_call":
            yield ev.ToolInvoked(t=now, turn=turn, name=str(wire.get("name")), arguments=str(wire.get("arguments")),
                                 result=outputs.get(wire.get("call_id"), ""))


class RealtimeRecording:
    """A Realtime session's audio (agent_core.recording.Recording): the user's input audio as it
    arrived (the talk page streams its microphone in real time, so it is the session's clock), and
    each spoken reply from where that clock stood at its first audio, cut to what the listener
    heard (`conversation.item.truncate`) once the session is over."""

    def __init__(self, sample_rate: int = RECORDING_RATE, *, max_seconds: float = MAX_RECORDING_S) -> None:
        self.sample_rate = sample_rate
        self._max_samples = int(max_seconds * sample_rate)
        self._user = bytearray()
        self._replies: dict[str, tuple[int, bytearray]] = {}  # item id -> (start sample, PCM sent)
        self._agent: list[tuple[int, bytes]] = []
        self.truncated = False

    @property
    def _user_samples(self) -> int:
        return len(self._user) // 2

    def user_audio(self, frame: AudioFrame) -> None:
        room = (self._max_samples - self._user_samples) * 2
        pcm = resample(frame, self.sample_rate).pcm
        if room < len(pcm):
            self.truncated = True
        self._user += pcm[: max(0, room)]

    def agent_audio(self, item_id: str, frame: AudioFrame) -> None:
        start, pcm = self._replies.setdefault(item_id, (self._user_samples, bytearray()))
        if start + (len(pcm) + len(frame.pcm)) // 2 > self._max_samples:
            self.truncated = True
            return
        pcm += resample(frame, self.sample_rate).pcm

    def finish(self, conversation: Conversation) -> None:
        """Place each reply as heard: from its start, never over the one before, cut where truncated."""
        end = 0
        for item in conversation.items:
            sent = self._replies.get(item.id)
            if sent is None:
                continue
            start, pcm = sent
            produced = sum(s.produced_samples for s in item.sentences)
            heard = sum(s.played_samples for s in item.sentences)
            keep = len(pcm) // 2 if not produced else len(pcm) // 2 * heard // produced
            start = max(start, end)
            self._agent.append((start, bytes(pcm[: keep * 2])))
            end = start + keep

    @property
    def duration_s(self) -> float:
        ends = [start + len(pcm) // 2 for start, pcm in self._agent]
        return max([self._user_samples, *ends]) / self.sample_rate

    def to_wav(self) -> bytes:
        return stereo_wav(self.sample_rate, bytes(self._user), self._agent)
