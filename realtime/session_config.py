"""A Realtime session's configuration: parsed from `session.update`, echoed in `session.created/updated`.

Accepts the GA shape (`audio.input.format`, `audio.output.voice`, `output_modalities`) and the
beta one (`input_audio_format`, `voice`, `modalities`). Every value Parley cannot honour is an
error naming the field, never silently replaced.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from agent_core.tts.base import SpeechStyle
from realtime.audio_formats import PCM, AudioFormat, parse_format
from realtime.protocol import ProtocolError

TURN_DETECTION_TYPES = ("server_vad", "semantic_vad")
SPEED_RANGE = (0.25, 1.5)  # OpenAI's Realtime range (inside the speech API's 0.25-4)
TOOL_CHOICES = ("auto", "none", "required")


@dataclass(frozen=True)
class TurnDetection:
    type: str = "server_vad"
    silence_duration_ms: int = 500  # Parley's end-of-turn silence
    prefix_padding_ms: int = 300  # audio kept from before speech was confirmed
    create_response: bool = True  # answer each turn without waiting for response.create
    interrupt_response: bool = True  # speech over a reply cancels it
    eagerness: str = "auto"  # semantic_vad only; echoed (Parley's own turn policy decides)

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"type": self.type, "create_response": self.create_response,
                                "interrupt_response": self.interrupt_response}
        if self.type == "server_vad":
            wire.update(silence_duration_ms=self.silence_duration_ms, prefix_padding_ms=self.prefix_padding_ms)
        else:
            wire["eagerness"] = self.eagerness
        return wire


@dataclass(frozen=True)
class SessionConfig:
    instructions: str
    voice: str | None
    speed: float = 1.0  # passed to the TTS as SpeechStyle.speed
    # The persona's other style knobs (exaggeration...): OpenAI's session has no field for them.
    style: SpeechStyle | None = None
    output_modalities: tuple[str, ...] = ("audio",)
    input_format: AudioFormat = PCM
    output_format: AudioFormat = PCM
    transcription: dict[str, Any] | None = field(default_factory=lambda: {"model": "parley"})
    turn_detection: TurnDetection | None = TurnDetection()
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: Any = "auto"
    max_output_tokens: int | str = "inf"

    @property
    def speaks(self) -> bool:
        return "audio" in self.output_modalities

    def to_wire(self, session_id: str, model: str) -> dict[str, Any]:
        return {
            "type": "realtime", "object": "realtime.session", "id": session_id, "model": model,
            "instructions": self.instructions, "output_modalities": list(self.output_modalities),
            "audio": {
                "input": {"format": self.input_format.to_wire(), "transcription": self.transcription,
                          "turn_detection": self.turn_detection.to_wire() if self.turn_detection else None,
                          "noise_reduction": None},
                "output": {"format": self.output_format.to_wire(), "voice": self.voice, "speed": self.speed},
            },
            "tools": list(self.tools), "tool_choice": self.tool_choice,
            "max_output_tokens": self.max_output_tokens,
        }

    def updated(self, changes: object) -> SessionConfig:
        """This config with a `session.update`'s `session` applied (GA or beta shape)."""
        if not isinstance(changes, dict):
            raise ProtocolError("invalid_value", "session must be an object", param="session")
        kind = changes.get("type", "realtime")
        if kind != "realtime":
            raise ProtocolError("invalid_value", f"session.type {kind!r} is not served: use 'realtime'",
                                param="session.type")
        audio = changes.get("audio") or {}
        audio_in, audio_out = audio.get("input") or {}, audio.get("output") or {}
        new: dict[str, Any] = {}
        if "instructions" in changes:
            new["instructions"] = _text(changes["instructions"], "session.instructions")
        modalities = changes.get("output_modalities", changes.get("modalities"))
        if modalities is not None:
            new["output_modalities"] = parse_modalities(modalities, "session.output_modalities")
        if "format" in audio_in or "input_audio_format" in changes:
            new["input_format"] = parse_format(audio_in.get("format", changes.get("input_audio_format")),
                                               "session.audio.input.format")
        if "format" in audio_out or "output_audio_format" in changes:
            new["output_format"] = parse_format(audio_out.get("format", changes.get("output_audio_format")),
                                                "session.audio.output.format")
        for source, key in ((audio_in, "transcription"), (changes, "input_audio_transcription")):
            if key in source:
                value = source[key]
                if value is not None and not isinstance(value, dict):
                    raise ProtocolError("invalid_value", "transcription must be an object or null",
                                        param="session.audio.input.transcription")
                new["transcription"] = value
        for source in (audio_in, changes):
            if "turn_detection" in source:
                new["turn_detection"] = parse_turn_detection(source["turn_detection"], self.turn_detection)
        voice = audio_out.get("voice", changes.get("voice"))
        if voice is not None:
            new["voice"] = _text(voice, "session.audio.output.voice")
        speed = audio_out.get("speed", changes.get("speed"))  # GA, then the beta's top-level `speed`
        if speed is not None:
            new["speed"] = parse_speed(speed, "session.audio.output.speed")
        if "tools" in changes:
            new["tools"] = parse_tools(changes["tools"], "session.tools")
        if "tool_choice" in changes:
            new["tool_choice"] = parse_tool_choice(changes["tool_choice"], "session.tool_choice")
        if "max_output_tokens" in changes:
            new["max_output_tokens"] = parse_max_output_tokens(changes["max_output_tokens"], "session.max_output_tokens")
        if changes.get("prompt") is not None:
            raise ProtocolError("unsupported", "stored prompts are OpenAI's; send instructions instead",
                                param="session.prompt")
        return replace(self, **new)


def _text(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise ProtocolError("invalid_value", f"{param} must be a string", param=param)
    return value


def parse_speed(value: Any, param: str) -> float:
    low, high = SPEED_RANGE
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ProtocolError("invalid_value", f"speed must be a number from {low:g} to {high:g}", param=param)
    return float(value)


def parse_max_output_tokens(value: Any, param: str) -> int | str:
    if value == "inf" or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4096):
        return value
    raise ProtocolError("invalid_value", 'max_output_tokens must be "inf" or an integer from 1 to 4096', param=param)


def parse_modalities(value: Any, param: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or any(m not in ("audio", "text") for m in value):
        raise ProtocolError("invalid_value", 'output_modalities must be ["audio"] or ["text"]', param=param)
    # The beta's ["text", "audio"] means spoken replies with their transcript: GA's ["audio"].
    return ("audio",) if "audio" in value else ("text",)


def parse_turn_detection(value: Any, current: TurnDetection | None) -> TurnDetection | None:
    param = "session.audio.input.turn_detection"
    if value is None:
        return None  # manual turns: the client commits and asks for responses
    if not isinstance(value, dict) or value.get("type", "server_vad") not in TURN_DETECTION_TYPES:
        raise ProtocolError("invalid_value", "turn_detection must be null or of type server_vad or semantic_vad",
                            param=param)
    base = current or TurnDetection()
    silence = value.get("silence_duration_ms", base.silence_duration_ms)
    padding = value.get("prefix_padding_ms", base.prefix_padding_ms)
    for name, number, low, high in (("silence_duration_ms", silence, 100, 5000),
                                    ("prefix_padding_ms", padding, 0, 2000)):
        if not isinstance(number, int) or not low <= number <= high:
            raise ProtocolError("invalid_value", f"{name} must be an integer from {low} to {high}",
                                param=f"{param}.{name}")
    eagerness = value.get("eagerness", base.eagerness)
    if eagerness not in ("low", "medium", "high", "auto"):
        raise ProtocolError("invalid_value", "eagerness must be low, medium, high or auto", param=f"{param}.eagerness")
    return TurnDetection(type=value.get("type", "server_vad"), silence_duration_ms=silence, prefix_padding_ms=padding,
                         create_response=bool(value.get("create_response", True)),
                         interrupt_response=bool(value.get("interrupt_response", True)), eagerness=eagerness)


def parse_tools(value: Any, param: str) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list):
        raise ProtocolError("invalid_value", "tools must be a list", param=param)
    for index, tool in enumerate(value):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function" or not tool.get("name"):
            raise ProtocolError("invalid_value", "only function tools with a name are supported (no MCP servers)",
                                param=f"{param}[{index}]")
    return tuple({"type": "function", **tool} for tool in value)


def parse_tool_choice(value: Any, param: str) -> Any:
    if value in TOOL_CHOICES:
        return value
    if isinstance(value, dict) and value.get("type") == "function" and value.get("name"):
        return {"type": "function", "name": value["name"]}
    raise ProtocolError("invalid_value", "tool_choice must be auto, none, required or a function", param=param)


def chat_tools(tools: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """Realtime function tools -> chat-completions tool schemas for the LLM."""
    return [{"type": "function", "function": {
        "name": tool["name"], "description": tool.get("description", ""),
        "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
    }} for tool in tools]
