"""`parley call` and `parley phone` as a user runs them."""

import json
import os
import subprocess
import sys


def parley(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "PARLEY_"))}
    return subprocess.run(
        [sys.executable, "-m", "parley.cli", *args], capture_output=True, text=True, timeout=timeout, env={**clean, **(env or {})}
    )


def test_call_without_credentials_is_a_clear_error():
    result = parley("call", "+15551234567", env={"PARLEY_PUBLIC_URL": "https://p.example.com", "TWILIO_PHONE_NUMBER": "+15550001111"})
    assert result.returncode == 2
    assert "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" in " ".join(result.stderr.split())


def test_call_without_public_url_is_a_clear_error():
    result = parley("call", "+15551234567", env={"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "x"})
    assert result.returncode == 2
    assert "PARLEY_PUBLIC_URL" in result.stderr


def test_phone_reports_a_refused_call(tmp_path):
    """No server listening: the simulator says so instead of a traceback."""
    result = parley("phone", "http://127.0.0.1:9", "--input", "tests/data/jfk.wav", "--heard", str(tmp_path / "h.wav"))
    assert result.returncode == 1
    assert "the call failed" in result.stderr


async def test_phone_command_calls_a_running_server(tmp_path, jfk_opening):
    from tests.telephony.kit import phone_line

    async with phone_line(tmp_path) as line:
        env = {"TWILIO_AUTH_TOKEN": line.auth_token, "PARLEY_ADMIN_TOKEN": line.admin_token}
        import asyncio

        result = await asyncio.to_thread(
            parley, "phone", line.url, "--fast", "--json", "--heard", str(tmp_path / "heard.wav"), env=env  # the default question
        )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["heard_seconds"] > 1
    assert [t["speaker"] for t in report["transcript"]] == ["caller", "agent"]
    assert (tmp_path / "heard.wav").stat().st_size > 1000
