"""The Parley server for bench/calls.py: the real app with instant scripted STT/LLM/TTS.

Real: HTTP + WebSocket, signature and token checks, mu-law, resampling, Silero
VAD, turn-taking, the Session, storage. Scripted: the three model providers.
With --reply-wav, the TTS speaks that WAV for every sentence and the LLM says
--reply-text (bench/vs_pipecat.py gives Pipecat the same two).
Also serves GET /bench/collect: since the last collect, every caller frame's
processing lag (the simulator's send time -> the server finished with it),
the lag against the media clock of finished calls, and barge-in reactions.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from agent_core.audio import AudioFrame, read_wav  # noqa: E402
from agent_core.providers import Providers  # noqa: E402
from agent_core.settings import Settings, TwilioSettings  # noqa: E402
from agent_core.testing import ScriptedLlm, ScriptedStt, ScriptedTts  # noqa: E402
from agent_core.tts.base import TextToSpeech  # noqa: E402
from parley.server import create_app  # noqa: E402
from telephony.media_stream import MediaStreamCall  # noqa: E402
from telephony.phone import Phone  # noqa: E402

# End of turn on 500 ms of silence (16 VAD windows, 512 ms), as the Pipecat server is set up:
# Smart Turn is a model cost, like STT, which both servers leave out here.
PERSONA = """system_prompt = "Be brief."
greeting = ""
[turn]
end_of_turn_signals = "silence"
end_of_turn_silence_ms = 500
"""
REPLY = "Sure, here is a short answer. And one more sentence for you."


class CannedTts(TextToSpeech):
    """Instant TTS that speaks one fixed recording, whatever the text."""

    name = "canned-tts"

    def __init__(self, audio: AudioFrame) -> None:
        self.audio = audio

    async def synthesize(self, text: str, *, voice=None, style=None) -> AsyncIterator[AudioFrame]:
        yield self.audio


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--reply-wav", type=Path, help="speak this recording instead of a tone per word")
    parser.add_argument("--reply-text", default=REPLY)
    args = parser.parse_args()
    (args.data_dir / "personas").mkdir(parents=True, exist_ok=True)
    (args.data_dir / "personas" / "bench.toml").write_text(PERSONA)
    settings = Settings(
        data_dir=args.data_dir,
        persona="bench",
        personas_path=args.data_dir / "personas",
        public_url=f"http://127.0.0.1:{args.port}",
        admin_token=SecretStr(args.auth_token),
        twilio=TwilioSettings(auth_token=SecretStr(args.auth_token)),
        max_conversations=10_000,  # the benchmark finds the limit; admission must not set it
        batched_vad=True,  # call volume is what is measured
    )
    providers = Providers(
        stt=ScriptedStt(),
        llm=ScriptedLlm([args.reply_text]),
        tts=CannedTts(read_wav(args.reply_wav)) if args.reply_wav else ScriptedTts(sample_rate=22050),
    )
    app = create_app(settings, providers)
    collected: dict[str, list[float]] = {"lags_ms": [], "media_clock_lags_ms": [], "barge_in_reaction_ms": []}
    end_session, on_media = Phone.end_session, MediaStreamCall._on_media

    def timed_media(stream: MediaStreamCall, message: dict) -> None:
        # The simulator stamps its send time: this is the frame's whole wait, from the
        # client's send to the moment the server has decoded it and queued its VAD windows
        # (the batched VAD runs them up to a tick later).
        on_media(stream, message)
        if "sentAt" in message:
            collected["lags_ms"].append((time.monotonic() - message["sentAt"]) * 1000)

    async def end_and_collect(phone: Phone, stream: MediaStreamCall) -> None:
        collected["media_clock_lags_ms"].extend(lag * 1000 for lag in stream.stats.lags)
        collected["barge_in_reaction_ms"].extend(stream.stats.barge_in_reaction_ms)
        await end_session(phone, stream)

    MediaStreamCall._on_media = timed_media  # type: ignore[method-assign]
    Phone.end_session = end_and_collect  # type: ignore[method-assign]

    @app.get("/bench/collect")
    async def collect() -> dict[str, list[float]]:
        result = {key: list(values) for key, values in collected.items()}
        for values in collected.values():
            values.clear()
        return result

    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", ws_max_size=1 << 20)


if __name__ == "__main__":
    main()
