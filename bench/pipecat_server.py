"""The Pipecat side of bench/vs_pipecat.py: Pipecat 1.14's Twilio bot with instant fake services.

Runs inside the Pipecat venv (.bench/pipecat-venv), never in Parley's. Built the way
Pipecat's own twilio-chatbot example is: FastAPI answers the call webhook with TwiML
<Connect><Stream>, and each Media Stream runs a pipeline

    FastAPIWebsocketTransport (TwilioFrameSerializer) -> STT -> user aggregator (Silero VAD,
    turn strategies) -> LLM -> TTS -> transport output -> assistant aggregator

with the example's task settings (8 kHz in and out, metrics on). The example also runs
the pipeline with `PipelineRunner(force_gc=True)`: a full gc.collect() as each call ends,
which here stalls every other call for ~90 ms (a gen-2 collection of this heap) and costs
CPU; it is off unless --force-gc, as is the runner's default, the better case for Pipecat. The
three services are instant fakes written against Pipecat's service base classes, so what
is measured is Pipecat's own work, as bench/calls_server.py does for Parley: the STT
yields a fixed transcript when VAD reports the end of speech, the LLM streams a fixed
reply word by word, the TTS speaks the same recording as Parley's canned TTS.

End of turn is set to match Parley's 500 ms of silence (512 ms in 32 ms VAD windows):
Silero's stop_secs stays at Pipecat's default 0.2 s (6 windows = 192 ms), then the
speech-timeout stop strategy waits 0.32 s more. (Pipecat's default stop strategy is the
Smart Turn model, and its speech-timeout default is 0.6 s: 0.8 s in all.)

GET /bench/collect returns, since the last collect, each caller frame's lag: the
simulator's send time (the "sentAt" it stamps) -> Silero VAD has processed the frame,
the same point at which bench/calls_server.py stamps Parley's frames.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings
import wave
from collections.abc import AsyncGenerator, AsyncIterator

import uvicorn
from fastapi import FastAPI, WebSocket
from fastapi.responses import PlainTextResponse, Response
from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_controller import VADController
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    TranscriptionFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineParams, PipelineTask
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair, LLMUserAggregatorParams
from pipecat.processors.frame_processor import FrameDirection
from pipecat.runner.utils import parse_telephony_websocket
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.services.llm_service import LLMService
from pipecat.services.settings import LLMSettings, ServiceSettings, STTSettings, TTSSettings
from pipecat.services.stt_service import STTService
from pipecat.services.tts_service import TTSService
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.utils.time import time_now_iso8601
from pipecat.utils.types import is_given

TRANSCRIPT = "hello"  # what Parley's ScriptedStt says too
USER_SPEECH_TIMEOUT_S = 0.32  # + Silero's 0.192 s stop = Parley's 512 ms end of turn

LAGS_MS: list[float] = []


class StampedTwilioSerializer(TwilioFrameSerializer):
    """Twilio's serializer, carrying the simulator's send stamp on the audio frame it makes."""

    async def deserialize(self, data: str | bytes) -> Frame | None:
        frame = await super().deserialize(data)
        if isinstance(frame, InputAudioRawFrame) and isinstance(data, str):
            at = data.rfind('"sentAt": ')  # the simulator appends it last; a slice is cheaper than parsing twice
            if at >= 0:
                frame.metadata["sentAt"] = float(data[at + 10 :].rstrip("} "))
        return frame


_vad_process_frame = VADController.process_frame


async def _timed_vad(self: VADController, frame: Frame) -> None:
    await _vad_process_frame(self, frame)
    sent = frame.metadata.get("sentAt") if isinstance(frame, InputAudioRawFrame) else None
    if sent is not None:
        LAGS_MS.append((time.monotonic() - sent) * 1000)


VADController.process_frame = _timed_vad  # type: ignore[method-assign]


def unsupported(settings: ServiceSettings) -> ServiceSettings:
    """Mark every setting a fake has no use for (model, voice, ...) as None, as Pipecat asks."""
    for field in dataclasses.fields(settings):
        if not is_given(getattr(settings, field.name)):
            setattr(settings, field.name, None)
    return settings


class FakeSTT(STTService):
    """A streaming STT that hears every frame and has the transcript ready when speech ends."""

    def __init__(self) -> None:
        super().__init__(ttfs_p99_latency=0.0, settings=unsupported(STTSettings()))  # instant: no wait for a late transcript

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame | None, None]:
        yield None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            await self.push_frame(TranscriptionFrame(TRANSCRIPT, "", time_now_iso8601(), finalized=True))


class FakeLLM(LLMService):
    """Streams the fixed reply word by word, as Parley's ScriptedLlm does."""

    def __init__(self, reply: str) -> None:
        super().__init__(settings=unsupported(LLMSettings()))
        self._words = [word + " " for word in reply.split()]

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            await self.push_frame(LLMFullResponseStartFrame())
            for word in self._words:
                await self._push_llm_text(word)
            await self.push_frame(LLMFullResponseEndFrame())
        else:
            await self.push_frame(frame, direction)


class CannedTTS(TTSService):
    """Speaks one fixed recording, whatever the text (Parley's CannedTts plays the same file)."""

    def __init__(self, pcm: bytes, rate: int) -> None:
        super().__init__(push_start_frame=True, push_stop_frames=True, settings=unsupported(TTSSettings()))
        self._pcm, self._rate = pcm, rate

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        async def chunks() -> AsyncIterator[bytes]:
            yield self._pcm

        async for frame in self._stream_audio_frames_from_iterator(
            chunks(), in_sample_rate=self._rate, context_id=context_id
        ):
            yield frame


def build_app(reply_text: str, reply_pcm: bytes, reply_rate: int, port: int, force_gc: bool) -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.post("/twilio/voice")
    async def voice() -> Response:
        twiml = f'<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="ws://127.0.0.1:{port}/ws"/></Connect></Response>'
        return Response(twiml, media_type="application/xml")

    @app.post("/twilio/status")
    async def status() -> PlainTextResponse:
        return PlainTextResponse("")

    @app.get("/bench/collect")
    async def collect() -> dict[str, list[float]]:
        result = {"lags_ms": list(LAGS_MS)}
        LAGS_MS.clear()
        return result

    @app.websocket("/ws")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        _, call_data = await parse_telephony_websocket(websocket)
        serializer = StampedTwilioSerializer(
            stream_sid=call_data["stream_id"],
            call_sid=call_data["call_id"],
            params=TwilioFrameSerializer.InputParams(auto_hang_up=False),  # no Twilio REST API to call here
        )
        transport = FastAPIWebsocketTransport(
            websocket=websocket,
            params=FastAPIWebsocketParams(
                audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False, serializer=serializer
            ),
        )
        context = LLMContext([{"role": "system", "content": "Be brief."}])
        user_aggregator, assistant_aggregator = LLMContextAggregatorPair(
            context,
            user_params=LLMUserAggregatorParams(
                vad_analyzer=SileroVADAnalyzer(),
                user_turn_strategies=UserTurnStrategies(
                    stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=USER_SPEECH_TIMEOUT_S)]
                ),
            ),
        )
        pipeline = Pipeline(
            [
                transport.input(),
                FakeSTT(),
                user_aggregator,
                FakeLLM(reply_text),
                CannedTTS(reply_pcm, reply_rate),
                transport.output(),
                assistant_aggregator,
            ]
        )
        task = PipelineTask(
            pipeline,
            params=PipelineParams(
                audio_in_sample_rate=8000, audio_out_sample_rate=8000, enable_metrics=True, enable_usage_metrics=True
            ),
        )

        @transport.event_handler("on_client_disconnected")
        async def on_client_disconnected(transport, client) -> None:
            await task.cancel()

        await PipelineRunner(handle_sigint=False, force_gc=force_gc).run(task)

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--reply-wav", required=True)
    parser.add_argument("--reply-text", required=True)
    parser.add_argument("--force-gc", action="store_true", help="a full gc.collect() as each call ends, as the example")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # PipelineTask/Runner: still what the examples use
    logger.remove()
    logger.add(sys.stderr, level="WARNING")  # as quiet as Parley's server in bench/calls_server.py
    with wave.open(args.reply_wav, "rb") as wav:
        pcm, rate = wav.readframes(wav.getnframes()), wav.getframerate()
    app = build_app(args.reply_text, pcm, rate, args.port, args.force_gc)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", ws_max_size=1 << 20)


if __name__ == "__main__":
    main()
