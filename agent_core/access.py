"""Who may call Parley's routes: a bearer token compared in constant time, and the loopback rule.

One place for every route that needs it (the admin API and /metrics, the talk page and the
Realtime socket, the speech services), so they cannot drift apart.
"""

from __future__ import annotations

import hmac
import ipaddress

from pydantic import SecretStr


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (the scheme in any case), else None."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def token_matches(given: str | None, expected: SecretStr | str) -> bool:
    """Constant-time comparison, so the time taken says nothing about how much of a guess was right."""
    secret = expected.get_secret_value() if isinstance(expected, SecretStr) else expected
    return given is not None and hmac.compare_digest(given.encode(), secret.encode())


def is_loopback_host(host: str) -> bool:
    """Whether a listen address only reaches this machine (127.0.0.0/8, ::1, localhost)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
