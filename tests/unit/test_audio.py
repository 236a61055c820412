import numpy as np
import pytest

from agent_core.audio import AudioFrame, StreamResampler, pcm16_to_ulaw, read_wav, ulaw_to_pcm16, write_wav
from agent_core.audio.resample import resample
from agent_core.audio.wav import WavFormatError


def tone(freq: float, seconds: float, rate: int) -> AudioFrame:
    t = np.arange(int(seconds * rate)) / rate
    return AudioFrame.from_float32(0.5 * np.sin(2 * np.pi * freq * t), rate)


def dominant_frequency(frame: AudioFrame) -> float:
    samples = frame.to_float32()
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / frame.sample_rate)[np.argmax(spectrum)])


def test_frame_carries_rate_and_duration():
    frame = AudioFrame(bytes(320), 8000)
    assert frame.samples == 160
    assert frame.duration_s == pytest.approx(0.02)


def test_frame_rejects_odd_bytes_and_bad_rate():
    with pytest.raises(ValueError):
        AudioFrame(b"\x00", 8000)
    with pytest.raises(ValueError):
        AudioFrame(b"", 0)


def test_frames_of_different_rates_do_not_join():
    with pytest.raises(ValueError):
        AudioFrame(bytes(4), 8000) + AudioFrame(bytes(4), 16000)


def test_split_covers_all_samples():
    frame = tone(440, 0.25, 8000)
    pieces = frame.split(0.02)
    assert [p.samples for p in pieces[:-1]] == [160] * (len(pieces) - 1)
    assert b"".join(p.pcm for p in pieces) == frame.pcm


def test_mulaw_roundtrip_is_close_and_silence_is_0xff():
    frame = tone(440, 0.1, 8000)
    back = np.frombuffer(ulaw_to_pcm16(pcm16_to_ulaw(frame.pcm)), dtype="<i2").astype(float)
    original = np.frombuffer(frame.pcm, dtype="<i2").astype(float)
    assert np.max(np.abs(back - original)) < 0.05 * 32768  # mu-law is 8-bit logarithmic
    assert pcm16_to_ulaw(bytes(8)) == b"\xff" * 4


@pytest.mark.parametrize("in_rate,out_rate", [(8000, 16000), (48000, 16000), (22050, 8000), (16000, 48000)])
def test_stream_resampler_emits_every_chunk_and_keeps_pitch(in_rate, out_rate):
    source = tone(440, 1.0, in_rate)
    resampler = StreamResampler(in_rate, out_rate)
    pieces = [resampler.process(p) for p in source.split(0.02)]
    # No chunk is held back for long: live audio cannot wait.
    assert all(p.samples > 0 for p in pieces[1:])
    joined = AudioFrame(b"".join(p.pcm for p in pieces) + resampler.flush().pcm, out_rate)
    assert joined.samples == pytest.approx(out_rate, abs=out_rate * 0.01)
    assert dominant_frequency(joined) == pytest.approx(440, abs=5)


def test_chunked_resampling_matches_whole_clip_without_clicks():
    source = tone(300, 0.5, 8000)
    resampler = StreamResampler(8000, 16000)
    chunked = b"".join(resampler.process(p).pcm for p in source.split(0.02)) + resampler.flush().pcm
    samples = np.frombuffer(chunked, dtype="<i2").astype(float) / 32768
    # A click shows as a jump far larger than a 300 Hz tone moves between samples.
    max_step = 0.5 * 2 * np.pi * 300 / 16000
    assert np.max(np.abs(np.diff(samples[200:-200]))) < 1.5 * max_step


def test_resampler_refuses_wrong_rate():
    with pytest.raises(ValueError):
        StreamResampler(8000, 16000).process(AudioFrame(bytes(4), 16000))


def test_wav_roundtrip(tmp_path):
    frame = tone(440, 0.1, 22050)
    write_wav(tmp_path / "t.wav", frame)
    assert read_wav(tmp_path / "t.wav") == frame


def test_wav_refuses_garbage(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"not a wav at all")
    with pytest.raises(WavFormatError):
        read_wav(tmp_path / "bad.wav")


def test_whole_clip_resample(jfk):
    eight = resample(jfk, 8000)
    assert eight.sample_rate == 8000
    assert eight.duration_s == pytest.approx(jfk.duration_s, abs=0.01)
