"""Twilio's HTTP and WebSocket endpoints.

Every webhook's X-Twilio-Signature is checked with the SDK's RequestValidator
over the public URL (behind a TLS proxy the app itself sees http://).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, WebSocket
from twilio.request_validator import RequestValidator

from agent_core import telemetry
from telephony.media_stream import POLICY_VIOLATION, MediaStreamCall
from telephony.phone import Phone
from telephony.twiml import stream_url_for

log = logging.getLogger(__name__)

router = APIRouter(prefix="/twilio", tags=["twilio"])


def get_phone(request: Request) -> Phone:
    return request.app.state.phone


PhoneDep = Annotated[Phone, Depends(get_phone)]


def public_base(phone: Phone, request: Request | WebSocket) -> str:
    """The URL Twilio reaches us at: PARLEY_PUBLIC_URL behind a tunnel or proxy, else the one it used."""
    return (phone.settings.public_url or str(request.base_url).replace("ws://", "http://", 1)
            .replace("wss://", "https://", 1)).rstrip("/")


def _public_url(phone: Phone, request: Request) -> str:
    query = request.url.query
    return public_base(phone, request) + request.url.path + (f"?{query}" if query else "")


async def signed_form(request: Request, phone: PhoneDep) -> dict[str, str]:
    """The webhook's form fields, once its signature is proven to be Twilio's."""
    form = {key: str(value) for key, value in (await request.form()).multi_items()}
    if not phone.twilio.validate_signatures:
        return form
    signature = request.headers.get("X-Twilio-Signature")
    token = phone.twilio.auth_token
    url = _public_url(phone, request)
    if not signature or token is None or not RequestValidator(token.get_secret_value()).validate(url, form, signature):
        phone.refusals += 1
        telemetry.refused("bad_signature")
        log.warning("refused %s: %s Twilio signature", request.url.path, "bad" if signature else "missing")
        raise HTTPException(status_code=403, detail="invalid Twilio signature")
    return form


SignedForm = Annotated[dict[str, str], Depends(signed_form)]


@router.post("/voice")
async def incoming_call(request: Request, form: SignedForm, phone: PhoneDep) -> Response:
    return Response(content=phone.answer(form, public_base(phone, request)), media_type="application/xml")


@router.post("/status", status_code=204)
async def call_status(form: SignedForm, phone: PhoneDep) -> Response:
    await phone.record_status(form)
    return Response(status_code=204)


@router.websocket("/media")
async def media_stream(websocket: WebSocket) -> None:
    phone: Phone = websocket.app.state.phone
    signature = websocket.headers.get("x-twilio-signature")
    # Twilio may sign the upgrade (over the wss:// URL, no params); the stream token is checked anyway.
    if signature and phone.twilio.validate_signatures and phone.twilio.auth_token is not None:
        url = stream_url_for(public_base(phone, websocket))
        if not RequestValidator(phone.twilio.auth_token.get_secret_value()).validate(url, {}, signature):
            phone.refusals += 1
            telemetry.refused("bad_signature")
            await websocket.close(code=POLICY_VIOLATION)
            return
    await websocket.accept()
    await MediaStreamCall(websocket, phone, max_message_bytes=phone.twilio.max_message_bytes).run()
