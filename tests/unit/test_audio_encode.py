"""The speech API's encoders: chunks in, a file that decodes to the same length out."""

from __future__ import annotations

import io
import wave

import av
import numpy as np
import pytest

from agent_core.audio.encode import SPEECH_FORMATS, AudioEncoder, wav_header
from agent_core.audio.frames import AudioFrame

RATE = 24000


def speech_like(seconds: float) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    return AudioFrame.from_float32(0.3 * np.sin(2 * np.pi * 180 * t) * np.sin(2 * np.pi * 3 * t), RATE).pcm


@pytest.mark.parametrize("fmt", [f for f in SPEECH_FORMATS if f != "pcm"])
def test_chunked_encoding_decodes_to_the_whole_length(fmt):
    pcm, encoder = speech_like(1.5), AudioEncoder(fmt, RATE)
    body = b"".join(encoder.encode(pcm[i: i + 4800]) for i in range(0, len(pcm), 4800)) + encoder.finish()
    with av.open(io.BytesIO(body)) as container:
        seconds = sum(f.samples for f in container.decode(audio=0)) / container.streams.audio[0].rate
    # mp3 and aac add an encoder delay and pad the last frame (aac: up to 2,047 samples, 85 ms); nothing is lost
    assert 1.5 <= seconds <= 1.59, seconds


def test_pcm_is_the_samples_and_an_exact_wav_header_reads_back():
    pcm = speech_like(0.5)
    encoder = AudioEncoder("pcm", RATE)
    assert encoder.encode(pcm) + encoder.finish() == pcm
    with wave.open(io.BytesIO(wav_header(RATE, len(pcm)) + pcm)) as wav:
        assert (wav.getframerate(), wav.getnframes()) == (RATE, len(pcm) // 2)


def test_a_finished_or_closed_encoder_refuses_more_audio():
    encoder = AudioEncoder("mp3", RATE)
    encoder.encode(speech_like(0.2))
    encoder.close()
    encoder.close()
    with pytest.raises(RuntimeError, match="finished or closed"):
        encoder.encode(speech_like(0.1))
    with pytest.raises(ValueError, match="unknown audio format 'ogg'"):
        AudioEncoder("ogg", RATE)
