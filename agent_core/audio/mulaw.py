"""G.711 mu-law, the telephone codec, through audioop.

audioop is in the standard library up to Python 3.12; on 3.13+ the
`audioop-lts` package provides the same module.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

ULAW_SILENCE = 0xFF  # mu-law encodes zero as 0xFF


def ulaw_to_pcm16(ulaw: bytes) -> bytes:
    return audioop.ulaw2lin(ulaw, 2)


def pcm16_to_ulaw(pcm: bytes) -> bytes:
    return audioop.lin2ulaw(pcm, 2)
