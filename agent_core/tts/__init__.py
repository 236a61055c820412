from agent_core.tts.base import TextToSpeech

__all__ = ["TextToSpeech"]
