"""GPU speech engines as plain classes; the Modal GPU classes wrap them.

Importing this package needs only numpy: torch, chatterbox and moshi load inside `load()`.
"""
from .chatterbox_text import split_sentences
from .chatterbox_tts import ChatterboxEngine
from .kyutai_stt import KyutaiSttEngine, SttStream, Word

__all__ = ["ChatterboxEngine", "KyutaiSttEngine", "SttStream", "Word", "split_sentences"]
