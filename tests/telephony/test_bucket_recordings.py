"""Recordings in an S3-compatible bucket: moto's S3 server on a local port, spoken to over real HTTP."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Iterator
from datetime import datetime

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

from agent_core.providers import Providers
from agent_core.settings import RecordingSettings, Settings
from agent_core.storage.bucket import S3RecordingStore
from agent_core.storage.recordings import LocalRecordingStore, RecordingStoreError, recording_store
from agent_core.testing import ScriptedStt
from parley.cli import app
from parley.local_server import free_port
from parley.worker import JobWorker
from tests.telephony.kit import phone_line
from tests.telephony.test_post_call_jobs import HeardTranscriber, finished_call
from tests.telephony.test_recordings import RATE, download, tracks

KEY_ID, SECRET_KEY, REGION = "parley-test-key", "parley-test-secret-0123456789", "us-east-1"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str):
    """A client of our own, to look into the bucket behind the store's back."""
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION,
                        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET_KEY)


@pytest.fixture
def bucket(s3) -> str:
    name = f"parley-{secrets.token_hex(6)}"
    s3.create_bucket(Bucket=name)
    return name


def bucket_settings(endpoint: str, url: str) -> RecordingSettings:
    return RecordingSettings(store=url, s3_endpoint_url=endpoint, s3_region=REGION,
                             s3_access_key_id=SecretStr(KEY_ID), s3_secret_access_key=SecretStr(SECRET_KEY))


def store_for(endpoint: str, url: str, tmp_path) -> S3RecordingStore:
    store = recording_store(Settings(data_dir=tmp_path, recording=bucket_settings(endpoint, url)))
    assert isinstance(store, S3RecordingStore)
    return store


def keys(s3, bucket: str) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


async def test_a_bucket_store_saves_streams_and_copies_recordings(s3_endpoint, s3, bucket, tmp_path):
    store = store_for(s3_endpoint, f"s3://{bucket}/calls/", tmp_path)
    await store.check()
    wav = b"RIFF" + secrets.token_bytes(700_000)  # several chunks of the stream
    assert await store.save("phone", "CA../../x", wav) == "phone/CA.._.._x.wav"
    assert keys(s3, bucket) == ["calls/phone/CA.._.._x.wav"]  # nothing escapes the prefix
    assert s3.head_object(Bucket=bucket, Key="calls/phone/CA.._.._x.wav")["ContentType"] == "audio/wav"
    assert await store.exists("phone", "CA../../x") and not await store.exists("phone", "CA-none")

    found = await store.open("phone", "CA../../x")
    assert found is not None and found.path is None
    assert (found.filename, found.media_type, found.size) == ("CA.._.._x.wav", "audio/wav", len(wav))
    assert b"".join([chunk async for chunk in found.chunks]) == wav
    assert await store.open("phone", "CA-none") is None

    async with store.local_copy("phone", "CA../../x") as path:
        assert path is not None and path.read_bytes() == wav
    assert not path.exists()  # the copy goes with the job that needed it
    async with store.local_copy("phone", "CA-none") as nothing:
        assert nothing is None


async def test_retention_in_a_bucket_removes_old_recordings_and_nothing_else(s3_endpoint, s3, bucket):
    options = {"endpoint_url": s3_endpoint, "region_name": REGION,
               "aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET_KEY}
    clock = {"now": time.time()}
    store = S3RecordingStore(bucket, "rec", client_options=options, now=lambda: clock["now"])
    await store.save("phone", "CA-old", b"RIFF old")
    await asyncio.sleep(1.1)  # S3 keeps LastModified to the second
    await store.save("phone", "CA-new", b"RIFF new")
    for foreign in ("rec/notes.txt", "rec/phone/CA-old.txt", "other/phone/CA-x.wav"):
        s3.put_object(Bucket=bucket, Key=foreign, Body=b"not ours")
    new_written: datetime = s3.head_object(Bucket=bucket, Key="rec/phone/CA-new.wav")["LastModified"]

    assert await store.delete_older_than(30) == 0
    clock["now"] = new_written.timestamp() + 30 * 86400  # 30 days after the new one was written
    assert await store.delete_older_than(30) == 1
    assert keys(s3, bucket) == ["other/phone/CA-x.wav", "rec/notes.txt", "rec/phone/CA-new.wav",
                                "rec/phone/CA-old.txt"]
    clock["now"] += 86400
    assert await store.delete_older_than(30) == 1 and not await store.exists("phone", "CA-new")


async def test_a_missing_bucket_is_an_error_at_start_and_secrets_stay_out_of_sight(s3_endpoint, tmp_path, caplog):
    store = store_for(s3_endpoint, "s3://no-such-bucket/x", tmp_path)
    caplog.set_level(logging.DEBUG, logger="agent_core")
    with pytest.raises(RecordingStoreError, match="no-such-bucket"):
        await store.check()
    with pytest.raises(RecordingStoreError, match="s3://no-such-bucket/x/phone/CA1.wav"):
        await store.save("phone", "CA1", b"RIFF")  # what the phone line logs, and the call goes on
    with pytest.raises(RecordingStoreError):
        await store.delete_older_than(30)
    assert SECRET_KEY not in repr(store) and SECRET_KEY not in caplog.text
    assert SECRET_KEY not in repr(bucket_settings(s3_endpoint, "s3://b"))


@pytest.mark.parametrize(("recording", "complaint"), [
    ({"store": "gs://bucket/x"}, "unknown scheme 'gs'"),
    ({"store": "/var/recordings"}, "is not a URL"),
    ({"store": "s3:///prefix"}, "names no bucket"),
    ({"store": "file://host/x"}, "not an absolute local path"),
    ({"store": "file:///srv/rec", "directory": "/srv/other"}, "set one"),
    ({"store": "s3://b", "s3_access_key_id": "only-the-id"}, "or neither"),
])
def test_a_store_url_parley_cannot_serve_stops_the_start(recording, complaint, tmp_path, monkeypatch):
    for name, setting in recording.items():
        monkeypatch.setenv(f"PARLEY_RECORDING__{name.upper()}", setting)
    with pytest.raises(ValidationError, match=complaint) as refused:
        Settings(data_dir=tmp_path)
    assert "only-the-id" not in str(refused.value)  # an error never repeats a secret it was given


def test_parley_refuses_to_start_on_an_unknown_store_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("PARLEY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PARLEY_RECORDING__STORE", "gs://bucket/calls")
    result = CliRunner().invoke(app, ["jobs", "list"])
    assert result.exit_code == 2
    assert "setting is invalid" in result.output and "unknown scheme 'gs'" in " ".join(result.output.split())


def test_the_default_and_file_urls_are_local_directories(tmp_path):
    default = recording_store(Settings(data_dir=tmp_path))
    named = recording_store(Settings(data_dir=tmp_path, recording=RecordingSettings(store=f"file://{tmp_path}/rec")))
    assert isinstance(default, LocalRecordingStore) and default.root == tmp_path / "recordings"
    assert isinstance(named, LocalRecordingStore) and named.root == tmp_path / "rec"


async def test_a_calls_recording_lands_in_the_bucket_downloads_and_is_transcribed(
        s3_endpoint, s3, bucket, tmp_path, jfk_opening):
    recording = bucket_settings(s3_endpoint, f"s3://{bucket}/parley")
    async with phone_line(tmp_path, recording=recording, stt=ScriptedStt(["Hello there."])) as line:
        call_sid, _ = await finished_call(line, jfk_opening)
        reply = await download(line, call_sid)
        transcriber = HeardTranscriber()
        worker = JobWorker(line.phone.settings, line.db, Providers(stt=line.stt, llm=line.llm, tts=line.tts),
                           transcriber)
        transcript = await worker.run_once()
    assert keys(s3, bucket) == [f"parley/phone/{call_sid}.wav"]
    assert not (tmp_path / "recordings").exists()  # the bucket, not the disk
    assert reply.status_code == 200 and reply.headers["content-type"] == "audio/wav"
    assert int(reply.headers["content-length"]) == len(reply.content)
    caller, _ = tracks(reply.content)
    assert len(caller) / RATE > 2.6  # the whole call: the 2.6 s the caller spoke and around it
    assert transcript is not None and transcript.kind == "transcript" and transcript.status == "done"
    assert transcriber.heard[0].duration_s == pytest.approx(len(caller) / RATE, abs=0.05)


async def test_a_bucket_that_goes_away_is_a_503_not_a_missing_recording(s3_endpoint, s3, bucket, tmp_path):
    async with phone_line(tmp_path, recording=bucket_settings(s3_endpoint, f"s3://{bucket}")) as line:
        s3.delete_bucket(Bucket=bucket)
        async with httpx.AsyncClient() as http:
            reply = await http.get(f"{line.url}/api/calls/CA123/recording",
                                   headers={"Authorization": f"Bearer {line.admin_token}"})
    assert reply.status_code == 503 and reply.json()["detail"] == "the recording store is unavailable"
