"""Text shaping between the LLM stream and TTS: speakable words and streaming sentences."""

from agent_core.text.sentences import SentenceSplitter
from agent_core.text.speakable import speakable

__all__ = ["SentenceSplitter", "speakable"]
