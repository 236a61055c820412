"""Voice activity detection with Silero VAD on onnxruntime.

The ONNX file comes from the `silero-vad` wheel (installed with --no-deps: its
torch dependency is only for its own PyTorch loader). One model per process;
one `VadStream` per speaker, because the model is recurrent and each speaker
needs their own state. `agent_core.vad_batch` runs many speakers' windows in one call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from agent_core.audio.frames import AudioFrame
from agent_core.model_files import package_file

VAD_SAMPLE_RATE = 16000
WINDOW_SAMPLES = 512  # 32 ms: the window Silero is trained on at 16 kHz
CONTEXT_SAMPLES = 64  # the model expects the tail of the previous window in front
WINDOW_MS = WINDOW_SAMPLES * 1000 // VAD_SAMPLE_RATE


def silero_model_path() -> Path:
    return package_file("silero_vad", "data/silero_vad.onnx", "pip install --no-deps silero-vad==6.2.3")


class SileroVad:
    """The shared ONNX session. `InferenceSession.run` is thread-safe."""

    _instance: SileroVad | None = None
    _instance_lock = threading.Lock()

    def __init__(self, model_path: Path | None = None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One thread: a 32 ms window costs ~0.3 ms, and many calls share the cores.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(model_path or silero_model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._sr = np.array(VAD_SAMPLE_RATE, dtype=np.int64)

    @classmethod
    def shared(cls) -> SileroVad:
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def infer(self, window_with_context: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
        prob, new_state = self.infer_batch(window_with_context, state)
        return float(prob[0, 0]), new_state

    def infer_batch(self, windows: np.ndarray, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(batch, 576) windows with their context and (2, batch, 128) states -> (batch, 1), new states."""
        prob, new_state = self._session.run(None, {"input": windows, "state": states, "sr": self._sr})
        return prob, new_state

    def stream(self, on_late: Callable[[list[float], float], None] | None = None) -> VadStream:
        """`on_late` is for batched streams (agent_core.vad_batch); these answer in `process`."""
        return VadStream(self)


class Windows:
    """Cuts one speaker's 16 kHz audio into the model's inputs: each 32 ms window behind its context."""

    def __init__(self) -> None:
        # The last window's context and the samples not yet in a window, in one array: a frame
        # then costs one concatenation, and its windows are views of it (it is never written to).
        self._tail = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)

    def cut(self, frame: AudioFrame) -> list[np.ndarray]:
        if frame.sample_rate != VAD_SAMPLE_RATE:
            raise ValueError(f"VAD needs {VAD_SAMPLE_RATE} Hz audio, got {frame.sample_rate} Hz")
        return self.cut_samples(frame.to_float32())

    def cut_samples(self, samples: np.ndarray) -> list[np.ndarray]:
        """`samples`: float32 at 16 kHz."""
        audio = np.concatenate((self._tail, samples))
        inputs = []
        start = 0
        while start + CONTEXT_SAMPLES + WINDOW_SAMPLES <= len(audio):
            inputs.append(audio[start : start + CONTEXT_SAMPLES + WINDOW_SAMPLES])
            start += WINDOW_SAMPLES
        self._tail = audio[start:]
        return inputs

    def reset(self) -> None:
        self._tail = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)


class VadStream:
    """Speech probability for one speaker's 16 kHz audio, one value per 32 ms window."""

    def __init__(self, model: SileroVad) -> None:
        self._model = model
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._windows = Windows()

    def process(self, frame: AudioFrame) -> list[float]:
        if frame.sample_rate != VAD_SAMPLE_RATE:
            raise ValueError(f"VAD needs {VAD_SAMPLE_RATE} Hz audio, got {frame.sample_rate} Hz")
        return self.process_samples(frame.to_float32())

    def process_samples(self, samples: np.ndarray) -> list[float]:
        """`samples`: float32 at 16 kHz."""
        probs = []
        for model_input in self._windows.cut_samples(samples):
            prob, self._state = self._model.infer(model_input[np.newaxis, :], self._state)
            probs.append(prob)
        return probs

    def reset(self) -> None:
        self._state[:] = 0
        self._windows.reset()
