"""Whisper-style 80-bin log-mel features, in numpy.

Smart Turn v3 was trained on the features of Hugging Face's
`WhisperFeatureExtractor(chunk_length=8)`: a centred 400-sample STFT with a
periodic Hann window every 160 samples (10 ms), a Slaney-scale mel filterbank,
log10 clamped to 8 decades below the peak, scaled to about [-1, 1]. The
waveform is normalised to zero mean and unit variance first. Written here so
that turn detection needs neither torch nor transformers.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms windows
HOP = 160  # 10 ms between frames
N_MELS = 80
WINDOW_S = 8  # Smart Turn's input: the last 8 s, 800 frames
WINDOW_SAMPLES = SAMPLE_RATE * WINDOW_S
_MEL_FLOOR = 1e-10
_VARIANCE_EPS = 1e-7


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    # Slaney: linear below 1 kHz, logarithmic above.
    mel = 3.0 * hz / 200.0
    above = hz >= 1000.0
    mel[above] = 15.0 + np.log(hz[above] / 1000.0) * (27.0 / np.log(6.4))
    return mel


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    hz = 200.0 * mel / 3.0
    above = mel >= 15.0
    hz[above] = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel[above] - 15.0))
    return hz


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Triangular Slaney-normalised filters, shape (n_fft // 2 + 1, n_mels)."""
    low, high = _hz_to_mel(np.array([0.0, sample_rate / 2.0]))
    edges_mel = np.linspace(low, high, n_mels + 2)
    edges_hz = _mel_to_hz(edges_mel)
    fft_hz = np.linspace(0, sample_rate // 2, n_fft // 2 + 1)
    widths = np.diff(edges_hz)
    offsets = edges_hz[np.newaxis, :] - fft_hz[:, np.newaxis]
    rising = -offsets[:, :-2] / widths[:-1]
    falling = offsets[:, 2:] / widths[1:]
    filters = np.maximum(0.0, np.minimum(rising, falling))
    normalised: np.ndarray = filters * (2.0 / (edges_hz[2:] - edges_hz[:-2]))[np.newaxis, :]  # equal area per filter
    return normalised


_FILTERS = mel_filterbank()
_HANN = np.hanning(N_FFT + 1)[:-1]  # periodic, as torch.hann_window


def last_window(samples: np.ndarray, window_samples: int = WINDOW_SAMPLES) -> np.ndarray:
    """The last `window_samples` of the audio, zero-padded at the FRONT when shorter (as Smart Turn was fed)."""
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) >= window_samples:
        return samples[len(samples) - window_samples :]
    return np.concatenate((np.zeros(window_samples - len(samples), dtype=np.float32), samples))


def log_mel(window: np.ndarray) -> np.ndarray:
    """Features of exactly one 8 s window of 16 kHz float audio: float32 (80, 800)."""
    if window.shape != (WINDOW_SAMPLES,):
        raise ValueError(f"expected {WINDOW_SAMPLES} samples, got shape {window.shape}")
    x = window.astype(np.float32)
    x = (x - x.mean()) / np.sqrt(x.var() + _VARIANCE_EPS)
    padded = np.pad(x.astype(np.float64), N_FFT // 2, mode="reflect")
    frames = sliding_window_view(padded, N_FFT)[::HOP]
    power = np.abs(np.fft.rfft(frames * _HANN, axis=-1)) ** 2  # (frames, bins)
    mel = np.log10(np.maximum(_MEL_FLOOR, power @ _FILTERS)).T[:, :-1]  # the last frame is dropped
    mel = np.maximum(mel, mel.max() - 8.0)
    features: np.ndarray = ((mel + 4.0) / 4.0).astype(np.float32)
    return features
