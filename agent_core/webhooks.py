"""The webhook a conversation's finished jobs are delivered to: a signed JSON POST.

The signature is HMAC-SHA256 over the exact body bytes with the shared secret, hex-encoded, in
`X-Parley-Signature: sha256=<hex>`; a receiver recomputes it over the body it got and compares
in constant time (`signature_matches`). Anything but a 2xx is a failed delivery, retried by the
job queue with backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

SIGNATURE_HEADER = "X-Parley-Signature"
TIMEOUT_S = 10.0


class DeliveryFailed(Exception):
    pass


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(body: bytes, secret: str, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(sign(body, secret), header)


async def deliver(url: str, payload: dict[str, Any], secret: str | None) -> dict[str, Any]:
    """POST the payload once; returns what the receiver said, raises DeliveryFailed otherwise."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "parley-webhooks"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            reply = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{url} unreachable: {type(exc).__name__}: {exc}") from exc
    if not reply.is_success:
        raise DeliveryFailed(f"{url} answered {reply.status_code}")
    return {"status_code": reply.status_code, "bytes": len(body)}
