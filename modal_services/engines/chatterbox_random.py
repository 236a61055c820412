"""Chatterbox with random weights: the real architectures, for measuring speed without a model hub.

Nothing here is used in production; the engine loads `from_pretrained` weights there.
"""

from __future__ import annotations

import numpy as np

RANDOM_REF_S = 10.0  # length of the synthetic voice reference (upstream uses <= 10 s)


class CharTokenizer:
    """Stand-in for tokenizer.json (no model hub): ~1 token per character."""

    def text_to_tokens(self, text: str):
        import torch

        return torch.IntTensor([[3 if c == " " else 4 + ord(c) % 690 for c in text]])


def random_chatterbox(device: str, sample_rate: int):
    """Returns (ChatterboxTTS with random weights, a synthetic reference clip at `sample_rate`)."""
    import torch
    from chatterbox.models.s3gen import S3Gen
    from chatterbox.models.t3 import T3
    from chatterbox.models.voice_encoder import VoiceEncoder
    from chatterbox.tts import ChatterboxTTS

    torch.manual_seed(0)
    modules = [m.to(device).eval() for m in (T3(), S3Gen(), VoiceEncoder())]
    tts = ChatterboxTTS(*modules, CharTokenizer(), device)
    t = np.arange(int(RANDOM_REF_S * sample_rate)) / sample_rate  # a voiced, wobbling tone for a voice
    reference = (0.3 * np.sin(2 * np.pi * 140 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    return tts, reference
