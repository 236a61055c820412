"""Errors that cross module boundaries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class ProviderError(Exception):
    """An STT, LLM or TTS provider failed or timed out during a turn."""

    def __init__(self, stage: str, cause: BaseException | str, *, timed_out: bool = False) -> None:
        super().__init__(f"{stage}: {cause}")
        self.stage = stage
        self.timed_out = timed_out


@contextmanager
def provider_stage(stage: str, timeout_message: str) -> Iterator[None]:
    """The fault ladder of one provider call: a timeout (put the call's `asyncio.timeout` inside),
    the provider's own error and anything else it raises all leave as one ProviderError naming
    the stage, which the Session turns into the persona's spoken apology. Cancellation passes."""
    try:
        yield
    except TimeoutError as exc:
        raise ProviderError(stage, timeout_message, timed_out=True) from exc
    except ProviderError:
        raise
    except Exception as exc:
        raise ProviderError(stage, exc) from exc
