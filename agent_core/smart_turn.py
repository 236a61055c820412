"""Smart Turn v3.2: does this speaker's audio sound like the end of a turn?

The ONNX file ships inside the `pipecat-ai` wheel (BSD-2-Clause), installed
with --no-deps and never imported: only the file is used, like Silero's. Input:
the last up-to-8 s of the speaker's 16 kHz audio, up to the moment asked (the
short silence included, as the model was trained); output: P(turn complete).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np

from agent_core.audio.log_mel import SAMPLE_RATE, WINDOW_SAMPLES, last_window, log_mel
from agent_core.blocking import model_executor
from agent_core.model_files import package_file

SMART_TURN_PACKAGE = "pipecat-ai==1.14.0"
SMART_TURN_SAMPLE_RATE = SAMPLE_RATE
SMART_TURN_MAX_SAMPLES = WINDOW_SAMPLES


def smart_turn_model_path() -> Path:
    # Looked up by file: importing pipecat would pull in its whole framework.
    return package_file(
        "pipecat",
        "audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx",
        f"pip install --no-deps {SMART_TURN_PACKAGE}",
    )


class SmartTurn:
    """The shared ONNX session; checks run one at a time on their own worker thread."""

    _instance: SmartTurn | None = None
    _instance_lock = threading.Lock()

    def __init__(self, model_path: Path | None = None, threads: int = 1) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One thread by default: a check is ~60-90 ms on one core, and the other
        # core keeps serving Whisper and the calls' audio meanwhile.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = onnxruntime.InferenceSession(
            str(model_path or smart_turn_model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._executor = model_executor("smart-turn")

    @classmethod
    def shared(cls) -> SmartTurn:
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def complete_probability_blocking(self, samples: np.ndarray) -> float:
        """P(the turn is complete) for 16 kHz float audio ending now."""
        features = log_mel(last_window(samples))[np.newaxis]
        (probability,) = self._session.run(None, {"input_features": features})
        return float(np.asarray(probability).reshape(-1)[0])

    async def complete_probability(self, samples: np.ndarray) -> float:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.complete_probability_blocking, samples)
