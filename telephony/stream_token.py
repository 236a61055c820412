"""Short-lived tokens that bind a Media Streams WebSocket to the call whose webhook we answered.

The webhook is signed by Twilio; the WebSocket upgrade may not be. So the TwiML
carries a token (in a <Parameter>, since the stream URL takes no query string),
HMAC-signed, bound to the CallSid, expiring quickly and good for one use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

# (nonce, expiry) -> whether this is its first use; the phone line checks it in the database.
FirstUse = Callable[[str, float], Awaitable[bool]]


class StreamTokenError(Exception):
    """Why a stream was refused: missing, malformed, forged, expired, another call's, or replayed."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class StreamTokens:
    def __init__(self, secret: bytes, ttl_s: float = 60.0, clock: Callable[[], float] = time.time,
                 first_use: FirstUse | None = None) -> None:
        if len(secret) < 16:
            raise ValueError("stream token secret must be at least 16 bytes")
        self._secret = secret
        self._ttl_s = ttl_s
        self._clock = clock
        self._first_use = first_use
        # This process's own memory of used nonces: alone without a shared store, and the
        # fallback while the shared one cannot be reached.
        self._used: dict[str, float] = {}  # nonce -> expiry, forgotten once expired
        self._next_prune = 0.0

    def _sign(self, call_sid: str, expiry: int, nonce: str) -> str:
        mac = hmac.new(self._secret, f"{call_sid}.{expiry}.{nonce}".encode(), hashlib.sha256)
        return _b64(mac.digest())

    def issue(self, call_sid: str) -> str:
        expiry = int(self._clock() + self._ttl_s)
        nonce = _b64(secrets.token_bytes(12))
        return f"v1.{expiry}.{nonce}.{self._sign(call_sid, expiry, nonce)}"

    async def redeem(self, token: str | None, call_sid: str) -> None:
        if not token:
            raise StreamTokenError("missing stream token")
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != "v1" or not parts[1].isdigit():
            raise StreamTokenError("malformed stream token")
        _, expiry_text, nonce, signature = parts
        expiry = int(expiry_text)
        # A token for another call fails here too: the CallSid is inside the MAC.
        if not hmac.compare_digest(signature, self._sign(call_sid, expiry, nonce)):
            raise StreamTokenError("stream token does not match this call")
        now = self._clock()
        if now > expiry:
            raise StreamTokenError("stream token expired")
        if now >= self._next_prune:  # not at every call: a burst of calls made that quadratic
            self._used = {n: e for n, e in self._used.items() if e >= now}
            self._next_prune = now + self._ttl_s / 10
        if nonce in self._used:
            raise StreamTokenError("stream token already used")
        self._used[nonce] = expiry
        if self._first_use is not None and not await _shared_first_use(self._first_use, nonce, expiry):
            raise StreamTokenError("stream token already used")


async def _shared_first_use(first_use: FirstUse, nonce: str, expiry: float) -> bool:
    try:
        return await first_use(nonce, expiry)
    except Exception:  # the database is down: a caller must not lose the call over it
        log.warning("stream token store unreachable: one-use checked in this process only (signature "
                    "and expiry still hold)", exc_info=True)
        return True
