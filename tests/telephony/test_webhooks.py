"""Twilio's webhooks over real HTTP: signatures, TwiML, status callbacks, the admin API."""

import xml.etree.ElementTree as ET

import httpx
from twilio.request_validator import RequestValidator

from tests.telephony.kit import phone_line


async def test_signed_webhook_gets_twiml_that_connects_a_stream_with_a_token(tmp_path):
    async with phone_line(tmp_path) as line:
        simulator = line.simulator()
        async with httpx.AsyncClient() as http:
            answer = await simulator.post_webhook(http, "/twilio/voice", simulator.incoming_call_params("CA" + "a" * 32))
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/xml")
        root = ET.fromstring(answer.text)
        assert root.tag == "Response"
        stream = root.find("./Connect/Stream")
        assert stream.get("url") == line.url.replace("http://", "ws://") + "/twilio/media"
        assert "?" not in stream.get("url")
        params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
        assert params["from"] == "+15550001111" and params["to"] == "+15552223333"
        assert params["token"].startswith("v1.")


async def test_forged_or_missing_signature_is_refused(tmp_path):
    async with phone_line(tmp_path) as line:
        simulator = line.simulator()
        params = simulator.incoming_call_params("CA" + "b" * 32)
        forged = RequestValidator("not-the-token").compute_signature(line.url + "/twilio/voice", params)
        async with httpx.AsyncClient() as http:
            missing = await http.post(line.url + "/twilio/voice", data=params)
            wrong = await http.post(line.url + "/twilio/voice", data=params, headers={"X-Twilio-Signature": forged})
            tampered = await http.post(
                line.url + "/twilio/voice",
                data={**params, "From": "+19990000000"},  # signed for other values
                headers={"X-Twilio-Signature": RequestValidator(line.auth_token).compute_signature(line.url + "/twilio/voice", params)},
            )
            status = await http.post(line.url + "/twilio/status", data={"CallSid": "CA1", "CallStatus": "completed"})
        assert [r.status_code for r in (missing, wrong, tampered, status)] == [403, 403, 403, 403]
        assert line.phone.refusals == 4


async def test_signature_is_checked_over_the_public_url_not_the_local_one(tmp_path):
    """Behind a TLS proxy Twilio signs https://public/...; a signature over the local URL must fail."""
    async with phone_line(tmp_path) as line:
        simulator = line.simulator(public_url="https://parley.example.com")
        async with httpx.AsyncClient() as http:
            answer = await simulator.post_webhook(http, "/twilio/voice", simulator.incoming_call_params("CA" + "c" * 32))
        assert answer.status_code == 403


async def test_signatures_may_be_switched_off_for_local_development(tmp_path, caplog):
    async with phone_line(tmp_path, validate_signatures=False) as line:
        async with httpx.AsyncClient() as http:
            answer = await http.post(line.url + "/twilio/voice", data={"CallSid": "CA" + "d" * 32})
        assert answer.status_code == 200
    assert "signature checks are OFF" in caplog.text


async def test_status_callback_updates_the_call_record(tmp_path):
    async with phone_line(tmp_path) as line:
        simulator = line.simulator()
        sid = "CA" + "e" * 32
        async with httpx.AsyncClient() as http:
            for status in ("ringing", "in-progress", "completed"):
                reply = await simulator.post_webhook(
                    http, "/twilio/status", {"CallSid": sid, "AccountSid": simulator.account_sid, "CallStatus": status, "CallDuration": "7"}
                )
                assert reply.status_code == 204
            await line.phone.conversations.records.flush()  # status records are queued: a database outage must not fail them
            record = await http.get(f"{line.url}/api/calls/{sid}", headers={"Authorization": f"Bearer {line.admin_token}"})
        assert record.status_code == 200
        assert record.json()["status"] == "completed"
        assert record.json()["meta"]["CallDuration"] == "7"


async def test_admin_api_needs_the_bearer_token(tmp_path):
    async with phone_line(tmp_path) as line:
        async with httpx.AsyncClient() as http:
            none = await http.get(f"{line.url}/api/calls/CA1")
            wrong = await http.get(f"{line.url}/api/calls/CA1", headers={"Authorization": "Bearer nope"})
            missing_call = await http.get(f"{line.url}/api/calls/CA1", headers={"Authorization": f"Bearer {line.admin_token}"})
            health = await http.get(f"{line.url}/healthz")
        assert (none.status_code, wrong.status_code, missing_call.status_code) == (401, 401, 404)
        assert health.json() == {"status": "ok", "active_calls": 0}
