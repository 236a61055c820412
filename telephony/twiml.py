"""TwiML answers, built with the Twilio SDK."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, Dial, VoiceResponse


def connect_stream(stream_url: str, parameters: dict[str, str]) -> str:
    """<Connect><Stream>: one bidirectional Media Stream for the call.

    Twilio wants the stream URL without a query string; data travels in
    <Parameter>s and arrives in the `start` message's customParameters.
    """
    if "?" in stream_url:
        raise ValueError("a Media Streams URL must not carry a query string; use parameters")
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def busy(message: str) -> str:
    """At capacity: say so, then hang up (a clean end of the call, not silence)."""
    response = VoiceResponse()
    response.say(message)
    response.hangup()
    return str(response)


def dial(number: str) -> str:
    """Replace the call's TwiML with a <Dial>: the transfer the LLM asked for."""
    response = VoiceResponse()
    response.append(Dial(number))
    return str(response)


def stream_url_for(public_url: str, path: str = "/twilio/media") -> str:
    """wss:// for the public https URL (ws:// when testing on plain http)."""
    base = public_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :] + path
    if base.startswith("http://"):
        return "ws://" + base[len("http://") :] + path
    raise ValueError(f"public URL must start with https:// (or http:// for local tests): {public_url!r}")
