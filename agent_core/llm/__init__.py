from agent_core.llm.base import ChunkReader, LanguageModel, LlmEvent, Message, TextDelta, ToolCall

__all__ = ["ChunkReader", "LanguageModel", "LlmEvent", "Message", "TextDelta", "ToolCall"]
