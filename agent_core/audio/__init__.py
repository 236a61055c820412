"""Audio primitives: PCM frames that carry their rate, resampling, mu-law, WAV."""

from agent_core.audio.frames import SAMPLE_WIDTH, AudioFrame
from agent_core.audio.mulaw import pcm16_to_ulaw, ulaw_to_pcm16
from agent_core.audio.resample import StreamResampler
from agent_core.audio.wav import read_wav, write_wav

__all__ = [
    "AudioFrame",
    "SAMPLE_WIDTH",
    "StreamResampler",
    "pcm16_to_ulaw",
    "ulaw_to_pcm16",
    "read_wav",
    "write_wav",
]
