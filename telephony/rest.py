"""Twilio's REST API through the official SDK: place, hang up and transfer calls.

The SDK's HTTP client is blocking, so every request runs in a worker thread.
Tests pass their own `http_client` (a `twilio.http.HttpClient`) to see the
exact requests without a network.
"""

from __future__ import annotations

import asyncio
import logging

from twilio.http import HttpClient
from twilio.rest import Client

from telephony import twiml

log = logging.getLogger(__name__)


class MissingCredentialsError(RuntimeError):
    pass


class TwilioRest:
    def __init__(self, account_sid: str | None, auth_token: str | None, http_client: HttpClient | None = None) -> None:
        if not account_sid or not auth_token:
            raise MissingCredentialsError(
                "Twilio credentials are missing: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN "
                "(from the Twilio console, Account > API keys & tokens)"
            )
        self._client = Client(account_sid, auth_token, http_client=http_client)

    async def hang_up(self, call_sid: str) -> None:
        await asyncio.to_thread(lambda: self._client.calls(call_sid).update(status="completed"))
        log.info("hung up call %s", call_sid)

    async def transfer(self, call_sid: str, number: str) -> None:
        await asyncio.to_thread(lambda: self._client.calls(call_sid).update(twiml=twiml.dial(number)))
        log.info("transferred call %s", call_sid)

    async def place_call(self, *, to: str, from_: str, answer_url: str, status_callback: str) -> str:
        """Dial out; Twilio fetches `answer_url` (our voice webhook) when the callee picks up."""
        call = await asyncio.to_thread(
            lambda: self._client.calls.create(
                to=to,
                from_=from_,
                url=answer_url,
                status_callback=status_callback,
                status_callback_event=["initiated", "ringing", "answered", "completed"],
            )
        )
        return call.sid
