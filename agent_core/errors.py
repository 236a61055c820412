"""Errors that cross module boundaries."""

from __future__ import annotations


class ProviderError(Exception):
    """An STT, LLM or TTS provider failed or timed out during a turn."""

    def __init__(self, stage: str, cause: BaseException | str) -> None:
        super().__init__(f"{stage}: {cause}")
        self.stage = stage
