"""A `Transcript` in each of OpenAI's transcription response formats: json, text, verbose_json, srt, vtt."""

from __future__ import annotations

from typing import Any

from agent_core.stt.transcript import Transcript

TRANSCRIPT_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")


def verbose_json(transcript: Transcript) -> dict[str, Any]:
    """OpenAI's TranscriptionVerbose. Parley's engines give no token ids or log-probabilities:
    those fields are neutral values, present because OpenAI's clients require them."""
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": transcript.language,
        "duration": round(transcript.duration_s, 3),
        "text": transcript.text,
        "segments": [
            {"id": i, "seek": 0, "start": round(s.start_s, 3), "end": round(s.end_s, 3), "text": s.text,
             "tokens": [], "temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 0.0, "no_speech_prob": 0.0}
            for i, s in enumerate(transcript.segments)
        ],
        "usage": {"type": "duration", "seconds": round(transcript.duration_s, 3)},
    }
    if transcript.words is not None:
        body["words"] = [{"word": w.word, "start": round(w.start_s, 3), "end": round(w.end_s, 3)} for w in transcript.words]
    return body


def subtitles(transcript: Transcript, fmt: str) -> str:
    """SubRip (`srt`) or WebVTT (`vtt`), one cue per segment."""
    separator = "," if fmt == "srt" else "."
    cues = []
    for i, segment in enumerate(transcript.segments, start=1):
        timing = f"{_clock(segment.start_s, separator)} --> {_clock(segment.end_s, separator)}"
        cues.append(f"{i}\n{timing}\n{segment.text}\n" if fmt == "srt" else f"{timing}\n{segment.text}\n")
    body = "\n".join(cues)
    return body if fmt == "srt" else f"WEBVTT\n\n{body}"


def _clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"
