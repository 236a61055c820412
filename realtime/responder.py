"""One Realtime response: the LLM's words as text or speech, and its function calls, as server events.

Audio replies are spoken sentence by sentence while the model still writes (the TTS speaks
sentence one while the LLM writes sentence two). Audio is sent as soon as it is made, as
OpenAI's server does; the client says what it actually played with `conversation.item.truncate`.
A cancelled response (`response.cancel`, or speech over it) ends with status `cancelled`.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from agent_core.audio.frames import AudioFrame
from agent_core.llm.base import LanguageModel, Message, TextDelta, ToolCall
from agent_core.playback import Segment
from agent_core.text import SentenceSplitter, speakable
from agent_core.text.sentences import sentence_tags
from agent_core.tts.base import SpeechStyle, TextToSpeech, UnknownVoiceError
from agent_core.tts.styles import layered, sentence_style
from realtime.audio_formats import AudioFormat, OutputEncoder
from realtime.conversation import Conversation, Item
from realtime.protocol import ProtocolError, error_event, new_id
from realtime.session_config import chat_tools

log = logging.getLogger(__name__)
Send = Callable[[dict[str, Any]], Awaitable[None]]
# Reply audio goes out in deltas of at most this much, however big the TTS's frames: a client
# starts playing sooner, and JSON messages stay small.
AUDIO_DELTA_MS = 100


@dataclass
class ResponsePlan:
    """What one response.create asks for: the session's settings with the per-response overrides."""

    instructions: str
    output_modalities: tuple[str, ...]
    voice: str | None
    output_format: AudioFormat
    tools: tuple[dict[str, Any], ...]
    tool_choice: Any
    speed: float = 1.0  # the session's `audio.output.speed`, or the response's own
    style: SpeechStyle | None = None  # the persona's other knobs, under the speed and each sentence's tags
    max_output_tokens: int | str = "inf"  # counted as streamed LLM deltas, as `usage` counts them
    into_conversation: bool = True  # False: an out-of-band response (`conversation: "none"`)
    metadata: dict[str, str] = field(default_factory=dict)
    turn_ended_t: float | None = None  # monotonic end of the user's speech, for voice-to-voice latency
    client_event_id: str | None = None  # the response.create that asked for it, named by its errors


@dataclass(frozen=True)
class LlmTimeouts:
    """An LLM that has not answered in this long has failed: the response fails instead of hanging."""

    first_token_s: float = 8.0
    token_gap_s: float = 5.0


DEFAULT_TIMEOUTS = LlmTimeouts()


@dataclass
class _Timings:
    started: float = field(default_factory=time.monotonic)
    first_token: float | None = None
    first_sentence: float | None = None
    first_audio: float | None = None

    def latencies_ms(self, turn_ended_t: float | None) -> dict[str, int]:
        """Parley's latencies of this response, in ms, where they happened."""
        spans = {"llm_first_token": (self.started, self.first_token),
                 "tts_first_audio": (self.first_sentence, self.first_audio),
                 "response_first_audio": (self.started, self.first_audio),
                 "voice_to_voice": (turn_ended_t, self.first_audio)}
        return {name: round((end - start) * 1000) for name, (start, end) in spans.items()
                if start is not None and end is not None}


def _chat_tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict):
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


class Response:
    def __init__(self, plan: ResponsePlan, *, llm: LanguageModel, tts: TextToSpeech, conversation: Conversation,
                 send: Send, language: str | None = None, timeouts: LlmTimeouts = DEFAULT_TIMEOUTS,
                 on_audio: Callable[[str, AudioFrame], None] | None = None) -> None:
        self.id = new_id("resp")
        self._on_audio = on_audio  # (item id, the TTS's frame): the session's recording, if kept
        self._timeouts = timeouts
        self.plan = plan
        self._llm, self._tts, self._conversation, self._send = llm, tts, conversation, send
        self._language = language
        self._output: list[Item] = []
        self._message: Item | None = None
        self._timings = _Timings()
        self._text = ""
        self._deltas = 0
        self.cancel_reason = "client_cancelled"
        self.status = "in_progress"

    @property
    def latencies_ms(self) -> dict[str, int]:
        return self._timings.latencies_ms(self.plan.turn_ended_t)

    @property
    def output(self) -> list[Item]:
        return list(self._output)

    @property
    def _speaks(self) -> bool:
        return "audio" in self.plan.output_modalities

    async def run(self, messages: list[Message]) -> None:
        """Stream the whole response; a cancellation ends it as `cancelled` rather than raising."""
        await self._send({"type": "response.created", "response": self._wire("in_progress")})
        details: dict[str, Any] | None
        self.status, details = "completed", None
        try:
            if not await self._generate(messages):
                self.status, details = "incomplete", {"type": "incomplete", "reason": "max_output_tokens"}
        except asyncio.CancelledError:
            self.status, details = "cancelled", {"type": "cancelled", "reason": self.cancel_reason}
        except Exception as failure:  # a response ends with response.done whatever happened
            error = failure if isinstance(failure, ProtocolError) else ProtocolError(
                "server_error", f"the response failed: {failure}", error_type="server_error")
            if not isinstance(failure, ProtocolError):
                log.exception("realtime response failed")
            self.status = "failed"
            details = {"type": "failed", "error": {"type": error.error_type, "code": error.code}}
            await self._send(error_event(error, self.plan.client_event_id))
        await self._finish_message(self.status)
        response = self._wire(self.status)
        response["status_details"] = details
        response["usage"] = self._usage(messages)
        # Realtime metadata values are strings.
        response["metadata"] = {**self.plan.metadata, **{f"{name}_ms": str(ms) for name, ms in self.latencies_ms.items()}}
        await self._send({"type": "response.done", "response": response})
        # Parley imposes no rate limits: the list is empty, sent where OpenAI sends it.
        await self._send({"type": "rate_limits.updated", "rate_limits": []})

    def _wire(self, status: str) -> dict[str, Any]:
        return {"id": self.id, "object": "realtime.response", "status": status, "status_details": None,
                "output": [item.wire for item in self._output], "output_modalities": list(self.plan.output_modalities),
                "conversation_id": self._conversation.id if self.plan.into_conversation else None,
                "audio": {"output": {"format": self.plan.output_format.to_wire(), "voice": self.plan.voice}},
                "max_output_tokens": self.plan.max_output_tokens, "metadata": None, "usage": None}

    def _usage(self, messages: list[Message]) -> dict[str, Any]:
        # The LLM seam streams text, not token counts: one streamed delta counts as one output token,
        # and the prompt is estimated at four characters a token (docs/realtime.md says so).
        prompt_chars = sum(len(str(m.get("content") or "")) for m in messages) + len(self.plan.instructions)
        input_tokens, output_tokens = prompt_chars // 4, self._deltas
        return {"total_tokens": input_tokens + output_tokens, "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "input_token_details": {"text_tokens": input_tokens, "audio_tokens": 0, "cached_tokens": 0},
                "output_token_details": {"text_tokens": output_tokens, "audio_tokens": 0}}

    # ---- generation ------------------------------------------------------------------------------
    async def _generate(self, messages: list[Message]) -> bool:
        """Stream the reply; False if it was cut at max_output_tokens."""
        tools = None
        if self.plan.tools and self.plan.tool_choice != "none":
            if not self._llm.supports_tools:
                raise ProtocolError("tools_unsupported", f"the LLM backend {self._llm.name!r} cannot call tools; "
                                    "configure an OpenAI-compatible LLM server (PARLEY_LLM_BASE_URL) or send no tools",
                                    param="tools")
            tools = chat_tools(self.plan.tools)
        prompt = [{"role": "system", "content": self.plan.instructions}, *messages]
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        speaker = asyncio.create_task(self._speak(sentences)) if self._speaks else None
        splitter = SentenceSplitter()
        calls: list[ToolCall] = []
        limit = self.plan.max_output_tokens if isinstance(self.plan.max_output_tokens, int) else None
        cut = False
        loop = asyncio.get_running_loop()
        try:
            stream = self._llm.stream(prompt, tools, _chat_tool_choice(self.plan.tool_choice) if tools else None)
            async with asyncio.timeout(self._timeouts.first_token_s) as deadline, aclosing(stream):
                async for event in stream:
                    deadline.reschedule(loop.time() + self._timeouts.token_gap_s)
                    if self._timings.first_token is None:
                        self._timings.first_token = time.monotonic()
                    if isinstance(event, ToolCall):
                        calls.append(event)
                        continue
                    assert isinstance(event, TextDelta)
                    if limit is not None and self._deltas >= limit:
                        cut = True
                        break  # aclosing stops the LLM now
                    self._deltas += 1
                    self._text += event.text
                    if self._speaks:
                        for sentence in splitter.push(event.text):
                            sentences.put_nowait(sentence)
                    else:
                        await self._text_delta(event.text)
            for sentence in splitter.flush():
                sentences.put_nowait(sentence)
            sentences.put_nowait(None)
            if speaker is not None:
                await speaker
        except TimeoutError as error:
            raise ProtocolError("llm_timeout", f"the LLM ({self._llm.name}) stopped answering",
                                error_type="server_error") from error
        except ProtocolError:
            raise
        except Exception as error:
            raise ProtocolError("llm_failed", f"the LLM ({self._llm.name}) failed: {error}",
                                error_type="server_error") from error
        finally:
            if speaker is not None and not speaker.done():
                speaker.cancel()
        for call in calls:
            await self._function_call(call)
        return not cut

    async def _open_message(self) -> Item:
        if self._message is None:
            part_type = "output_audio" if self._speaks else "output_text"
            part = {"type": part_type, "transcript": ""} if self._speaks else {"type": part_type, "text": ""}
            self._message = Item({"id": new_id("item"), "object": "realtime.item", "type": "message",
                                  "role": "assistant", "status": "in_progress", "content": []},
                                 output_rate=self.plan.output_format.sample_rate)
            await self._add_output(self._message)
            self._message.wire["content"].append(part)
            await self._send({**self._where(self._message), "type": "response.content_part.added",
                              "content_index": 0, "part": _part_event(part)})
        return self._message

    async def _add_output(self, item: Item) -> None:
        self._output.append(item)
        await self._send({"type": "response.output_item.added", "response_id": self.id,
                          "output_index": len(self._output) - 1, "item": item.wire})
        if self.plan.into_conversation:
            previous = self._conversation.add(item)
            await self._send({"type": "conversation.item.added", "previous_item_id": previous, "item": item.wire})

    def _where(self, item: Item) -> dict[str, Any]:
        return {"response_id": self.id, "item_id": item.id, "output_index": self._output.index(item)}

    async def _text_delta(self, text: str) -> None:
        item = await self._open_message()
        item.wire["content"][0]["text"] += text
        await self._send({**self._where(item), "type": "response.output_text.delta", "content_index": 0,
                          "delta": text})

    async def _speak(self, sentences: asyncio.Queue[str | None]) -> None:
        encoder = OutputEncoder(self.plan.output_format)
        while (sentence := await sentences.get()) is not None:
            words = speakable(sentence, language=self._language or "en")
            if not words.strip():
                continue
            if self._timings.first_sentence is None:
                self._timings.first_sentence = time.monotonic()
            item = await self._open_message()
            segment = Segment(sentence, self.plan.output_format.sample_rate)
            item.sentences.append(segment)
            transcript_delta = sentence if not item.wire["content"][0]["transcript"] else " " + sentence
            item.wire["content"][0]["transcript"] += transcript_delta
            await self._send({**self._where(item), "type": "response.output_audio_transcript.delta",
                              "content_index": 0, "delta": transcript_delta})
            try:
                style = sentence_style(sentence_tags(sentence), self._style(), self._tts.style_knobs,
                                       self._tts.describe_voice(self.plan.voice).style if self.plan.voice else None)
                async with aclosing(self._tts.synthesize(words, voice=self.plan.voice, style=style)) as frames:
                    async for frame in frames:
                        if self._on_audio is not None:
                            self._on_audio(item.id, frame)
                        await self._audio_delta(item, segment, encoder.encode(frame))
            except UnknownVoiceError as error:
                raise ProtocolError("invalid_voice", str(error), param="session.audio.output.voice") from error
            except Exception as error:
                raise ProtocolError("tts_failed", f"{self._tts.name}: {error}", error_type="server_error") from error
            segment.complete = True

    def _style(self) -> SpeechStyle | None:
        return layered(self.plan.style, SpeechStyle(speed=self.plan.speed) if self.plan.speed != 1.0 else None)

    async def _audio_delta(self, item: Item, segment: Segment, payload: bytes) -> None:
        audio_format = self.plan.output_format
        step = audio_format.sample_rate * AUDIO_DELTA_MS // 1000 * audio_format.bytes_per_sample
        for start in range(0, len(payload), step):
            piece = payload[start:start + step]
            if self._timings.first_audio is None:
                self._timings.first_audio = time.monotonic()
            samples = len(piece) // audio_format.bytes_per_sample
            segment.produced_samples += samples
            segment.played_samples += samples  # heard unless the client truncates the item
            await self._send({**self._where(item), "type": "response.output_audio.delta", "content_index": 0,
                              "delta": base64.b64encode(piece).decode()})

    async def _finish_message(self, status: str) -> None:
        item = self._message
        if item is None:
            return
        where, part = self._where(item), item.wire["content"][0]
        if self._speaks and status != "completed":
            # Cut short: the transcript keeps only words whose audio was sent, never a sentence
            # the TTS had not spoken yet.
            part["transcript"] = " ".join(words for s in item.sentences if (words := s.heard_words()))
        if self._speaks:
            await self._send({**where, "type": "response.output_audio.done", "content_index": 0})
            await self._send({**where, "type": "response.output_audio_transcript.done", "content_index": 0,
                              "transcript": part["transcript"]})
        else:
            await self._send({**where, "type": "response.output_text.done", "content_index": 0, "text": part["text"]})
        await self._send({**where, "type": "response.content_part.done", "content_index": 0,
                          "part": _part_event(part)})
        await self._item_done(item, "completed" if status == "completed" else "incomplete")

    async def _item_done(self, item: Item, status: str) -> None:
        item.wire["status"] = status
        await self._send({"type": "response.output_item.done", "response_id": self.id,
                          "output_index": self._output.index(item), "item": item.wire})
        if self.plan.into_conversation:
            await self._send({"type": "conversation.item.done", "item": item.wire})

    async def _function_call(self, call: ToolCall) -> None:
        arguments = call.arguments or "{}"  # as the model wrote it: the client parses, as with OpenAI's models
        item = Item({"id": new_id("item"), "object": "realtime.item", "type": "function_call",
                     "status": "in_progress", "name": call.name, "call_id": call.id, "arguments": ""})
        await self._add_output(item)
        where = {**self._where(item), "call_id": call.id}
        await self._send({**where, "type": "response.function_call_arguments.delta", "delta": arguments})
        item.wire["arguments"] = arguments
        await self._send({**where, "type": "response.function_call_arguments.done", "arguments": arguments,
                          "name": call.name})
        await self._item_done(item, "completed")


def _part_event(part: dict[str, Any]) -> dict[str, Any]:
    """The content part as response.content_part events carry it (`audio` / `text`)."""
    if part["type"] == "output_audio":
        return {"type": "audio", "transcript": part["transcript"]}
    return {"type": "text", "text": part["text"]}
