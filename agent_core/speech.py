"""Reply text to channel audio: TTS per sentence, resampling, playback chunks.

Every sentence becomes a Segment of the reply, so the Session can later tell
which words the listener actually heard.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing

from agent_core.audio.frames import AudioFrame
from agent_core.audio.resample import StreamResampler, resample
from agent_core.audio.wav import read_wav
from agent_core.errors import ProviderError, provider_stage
from agent_core.events import TurnEvents
from agent_core.paths import config_dir
from agent_core.playback import PlaybackQueue, Segment, SpokenReply
from agent_core.text import SentenceSplitter
from agent_core.text.sentences import sentence_tags
from agent_core.tts.base import SpeechStyle, TextToSpeech
from agent_core.tts.styles import sentence_style

log = logging.getLogger(__name__)

class SpeechOut:
    def __init__(
        self,
        tts: TextToSpeech,
        playback: PlaybackQueue,
        output_rate: int,
        chunk_ms: int,
        first_audio_timeout_s: float = 8.0,
    ) -> None:
        self.tts = tts
        self.playback = playback
        self.output_rate = output_rate
        self.chunk_s = chunk_ms / 1000.0
        self.timeout_s = first_audio_timeout_s  # for a sentence's first audio, and between its frames
        self._apology: tuple[str, AudioFrame] | None = None

    def ignored_knobs(self, style: SpeechStyle | None) -> list[str]:
        """The style fields set in `style` that this backend does not act on (its registry says which it does)."""
        knobs = self.tts.style_knobs
        if style is None or not knobs:  # a remote service not reached yet has not said
            return []
        return sorted(set(style.model_dump(exclude_none=True)) - set(knobs))

    async def prepare_apology(self, text: str, voice: str | None, style: SpeechStyle | None = None) -> None:
        """Synthesise the apology now, while the providers work, to have it when they don't."""
        try:
            async with asyncio.timeout(self.timeout_s):
                frames = [f async for f in self.tts.synthesize(text, voice=voice, style=style)]
            audio = resample(_join(frames), self.output_rate)
        except Exception as exc:
            log.error("could not synthesise the apology (%s); using the recorded one", exc)
            audio = resample(read_wav(config_dir() / "sounds" / "apology.wav"), self.output_rate)
            text = "Sorry, I had a problem there. Could you say that again?"
        self._apology = (text, audio)

    def apologize(self, reply: SpokenReply) -> None:
        if self._apology is None:
            return
        text, audio = self._apology
        segment = Segment(text, self.output_rate)
        reply.segments.append(segment)
        for piece in audio.split(self.chunk_s):
            self.playback.put(piece, reply, segment)
        segment.complete = True

    async def speak_text(self, reply: SpokenReply, text: str, voice: str | None, events: TurnEvents,
                         language: str = "en", style: SpeechStyle | None = None) -> None:
        splitter = SentenceSplitter(language=language)
        sentences = [*splitter.push(text), *splitter.flush()]
        voice_out = _ReplyVoice(self, reply, voice, events, style)
        for sentence in sentences:
            await voice_out.speak(sentence)
        voice_out.finish()

    async def speak_queue(self, reply: SpokenReply, sentences: asyncio.Queue[str | None], voice: str | None, events: TurnEvents,
                          style: SpeechStyle | None = None) -> None:
        voice_out = _ReplyVoice(self, reply, voice, events, style)
        while (sentence := await sentences.get()) is not None:
            await voice_out.speak(sentence)
        voice_out.finish()


class _ReplyVoice:
    """The TTS stream of one reply: one resampler across its sentences, so no clicks between them."""

    def __init__(self, out: SpeechOut, reply: SpokenReply, voice: str | None, events: TurnEvents,
                 style: SpeechStyle | None) -> None:
        self._out, self._reply, self._voice, self._events = out, reply, voice, events
        self._style = style
        # The voice's own values: where a tag's change of exaggeration starts from.
        self._voice_style = out.tts.describe_voice(voice).style if voice else None
        self._resampler: StreamResampler | None = None
        self._heard_first_audio = False
        self._segment: Segment | None = None

    async def speak(self, text: str) -> None:
        out = self._out
        segment = Segment(text, out.output_rate)
        self._reply.segments.append(segment)
        self._segment = segment
        self._events.sentence_ready(text, len(self._reply.segments) - 1)
        loop = asyncio.get_running_loop()
        try:
            with provider_stage("tts", f"no audio for {out.timeout_s:g} s"):
                style = sentence_style(sentence_tags(text), self._style, out.tts.style_knobs, self._voice_style)
                frames = out.tts.synthesize(str(text), voice=self._voice, style=style)
                async with asyncio.timeout(out.timeout_s) as deadline, aclosing(frames):
                    async for frame in frames:
                        deadline.reschedule(loop.time() + out.timeout_s)
                        if not self._heard_first_audio:
                            self._heard_first_audio = True
                            self._events.tts_first_audio()
                        self._queue(self._resample(frame), segment)
        finally:
            segment.complete = True

    def finish(self) -> None:
        if self._resampler is not None and self._segment is not None:
            self._queue(self._resampler.flush(), self._segment)

    def _resample(self, frame: AudioFrame) -> AudioFrame:
        if self._resampler is None or self._resampler.in_rate != frame.sample_rate:
            self._resampler = StreamResampler(frame.sample_rate, self._out.output_rate)
        return self._resampler.process(frame)

    def _queue(self, audio: AudioFrame, segment: Segment) -> None:
        if audio.samples:
            for piece in audio.split(self._out.chunk_s):
                self._out.playback.put(piece, self._reply, segment)


def _join(frames: list[AudioFrame]) -> AudioFrame:
    if not frames:
        raise ProviderError("tts", "no audio")
    pcm = b"".join(resample(f, frames[0].sample_rate).pcm for f in frames)
    return AudioFrame(pcm, frames[0].sample_rate)
