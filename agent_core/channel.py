"""What the Session needs from a channel adapter (Twilio, Discord, browser)."""

from __future__ import annotations

from typing import Protocol


class Channel(Protocol):
    # The rate the channel plays at; the Session resamples replies to it.
    output_sample_rate: int

    async def flush(self) -> None:
        """Barge-in: drop audio already sent downstream (Twilio `clear`, Discord player buffer)."""
