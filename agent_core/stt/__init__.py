from agent_core.stt.base import STT_SAMPLE_RATE, SpeechToText, SttStream

__all__ = ["STT_SAMPLE_RATE", "SpeechToText", "SttStream"]
