"""The Realtime session config: GA and beta shapes in, the GA shape out, every refusal named."""

from __future__ import annotations

import pytest

from realtime.audio_formats import PCM, PCMA, PCMU, parse_format
from realtime.protocol import ProtocolError
from realtime.session_config import SessionConfig, chat_tools

START = SessionConfig(instructions="Be kind.", voice=None)


def test_the_ga_shape_round_trips():
    config = START.updated({"type": "realtime", "instructions": "Be brief.", "output_modalities": ["text"],
                            "audio": {"input": {"format": {"type": "audio/pcmu"}, "transcription": None,
                                                "turn_detection": {"type": "semantic_vad", "eagerness": "high"}},
                                      "output": {"format": {"type": "audio/pcma"}, "voice": "amy"}},
                            "tools": [{"type": "function", "name": "f"}], "tool_choice": "required"})
    wire = config.to_wire("sess_1", "gpt-realtime")
    assert wire["instructions"] == "Be brief." and wire["output_modalities"] == ["text"]
    assert wire["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert wire["audio"]["output"] == {"format": {"type": "audio/pcma"}, "voice": "amy", "speed": 1.0}
    assert wire["audio"]["input"]["transcription"] is None
    assert wire["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"
    assert wire["audio"]["input"]["turn_detection"]["eagerness"] == "high"
    assert wire["tool_choice"] == "required" and wire["tools"][0]["name"] == "f"
    assert START.updated({"audio": {"input": {"turn_detection": None}}}).turn_detection is None


def test_the_beta_shape_means_the_same():
    config = START.updated({"modalities": ["text", "audio"], "input_audio_format": "g711_ulaw",
                            "output_audio_format": "pcm16", "voice": "amy",
                            "input_audio_transcription": {"model": "whisper-1"},
                            "turn_detection": {"type": "server_vad", "silence_duration_ms": 700}})
    assert config.output_modalities == ("audio",) and config.input_format is PCMU and config.output_format is PCM
    assert config.voice == "amy" and config.turn_detection.silence_duration_ms == 700


@pytest.mark.parametrize(("change", "param"), [
    ({"type": "transcription"}, "session.type"),
    ({"output_modalities": ["video"]}, "session.output_modalities"),
    ({"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}}, "session.audio.input.format"),
    ({"audio": {"output": {"format": {"type": "audio/opus"}}}}, "session.audio.output.format"),
    ({"audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 20}}}},
     "session.audio.input.turn_detection.silence_duration_ms"),
    ({"audio": {"input": {"turn_detection": {"type": "push_to_talk"}}}}, "session.audio.input.turn_detection"),
    ({"tools": [{"type": "mcp", "server_url": "https://x"}]}, "session.tools[0]"),
    ({"tool_choice": "sometimes"}, "session.tool_choice"),
    ({"audio": {"output": {"voice": 7}}}, "session.audio.output.voice"),
])
def test_what_cannot_be_honoured_is_refused_by_name(change, param):
    with pytest.raises(ProtocolError) as refused:
        START.updated(change)
    assert refused.value.param == param


def test_g711_formats_decode_and_encode_at_8_khz():
    assert parse_format({"type": "audio/pcma"}, "p") is PCMA and parse_format("g711_alaw", "p") is PCMA
    for audio_format in (PCMU, PCMA):
        frame = audio_format.decode(bytes(range(0, 256, 2)))
        assert frame.sample_rate == 8000 and frame.samples == 128
        assert audio_format.encode(frame) == bytes(range(0, 256, 2))  # G.711 round-trips its own codes
        assert audio_format.duration_ms(8000) == 1000


def test_tools_become_chat_completions_tools():
    [tool] = chat_tools(({"type": "function", "name": "get_weather", "description": "d",
                          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},))
    assert tool == {"type": "function", "function": {"name": "get_weather", "description": "d", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}
