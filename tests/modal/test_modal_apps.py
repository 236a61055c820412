"""The Modal app, offline: what each class asks Modal for, and that PARLEY_MODAL_* settings reach it.

No token and no network: importing a module with `modal.App`, `@app.cls`, `Volume.from_name`
and `Secret.from_name` resolves nothing until `modal deploy`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_core.deploy_settings import DeploySettings, SttClass, forwarded_env
from modal_services.llm import vllm_command
from tests.modal.modalkit import declared, fresh_modal_app

REPO = Path(__file__).resolve().parents[2]
MODAL_SOURCES = sorted(
    p for p in (REPO / "modal_services").glob("*.py") if p.name not in ("__init__.py",)
) + [REPO / "parley" / "deploy.py"]


@pytest.fixture
def deployed(monkeypatch):
    """modal_services.app imported with the default settings."""
    with fresh_modal_app(monkeypatch) as module:
        yield module


def test_one_app_with_every_class_and_the_download_function(deployed):
    app = deployed.app
    assert app.name == "parley"
    assert {"SttService", "TtsService", "LlmServer", "Orchestrator"} <= set(app._local_state.classes)
    assert "download_weights" in app._local_state.functions


def test_stt_class(deployed):
    stt = declared(deployed.stt.SttService)
    assert stt.gpu == "L4"
    assert stt.volumes == {"/weights": "parley-weights"}
    assert stt.secrets == []  # weights come from the Volume; no token needed at run time
    assert {"HF_HOME", "HF_HUB_OFFLINE"} <= set(stt.env)
    assert (stt.max_inputs, stt.target_inputs) == (32, 24)
    assert (stt.min_containers, stt.max_containers, stt.scaledown_window) == (0, 4, 300)
    assert stt.timeout == 3600  # a WebSocket (one call) is one input
    assert stt.memory_snapshot and stt.pre_snapshot_methods == {"import_libraries"}
    assert stt.post_snapshot_methods == {"load"} and stt.experimental_options == {}
    assert (stt.web_type, stt.requires_proxy_auth) == ("WEBHOOK_TYPE_ASGI_APP", True)


def test_tts_class_keeps_cloned_voices_on_their_own_volume(deployed):
    tts = declared(deployed.tts.TtsService)
    assert tts.gpu == "L4"
    assert tts.volumes == {"/weights": "parley-weights", "/voices": "parley-voices"}
    assert (tts.max_inputs, tts.target_inputs) == (8, 4)  # ChatterboxEngine(max_streams=8)
    assert (tts.web_type, tts.requires_proxy_auth) == ("WEBHOOK_TYPE_ASGI_APP", True)
    assert tts.pre_snapshot_methods == {"import_libraries"}


def test_llm_class_serves_vllm_behind_proxy_auth(deployed):
    llm = declared(deployed.llm.LlmServer)
    assert llm.gpu == "L40S"
    assert llm.volumes == {"/weights": "parley-weights"}
    assert (llm.web_type, llm.web_port, llm.requires_proxy_auth) == ("WEBHOOK_TYPE_WEB_SERVER", 8000, True)
    assert (llm.max_inputs, llm.target_inputs) == (64, 48)
    assert llm.startup_timeout == 900 and not llm.memory_snapshot
    assert {"HF_HOME", "HF_HUB_OFFLINE", "VLLM_CACHE_ROOT"} <= set(llm.env)


def test_vllm_command_line():
    command = vllm_command(DeploySettings().llm)
    assert command[:3] == ["vllm", "serve", "google/gemma-3-1b-it"]
    assert "--enable-prefix-caching" in command
    assert command[command.index("--port") + 1] == "8000"
    assert command[command.index("--max-num-seqs") + 1] == "64"  # = the class's max_inputs
    assert "--enforce-eager" not in command


def test_orchestrator_is_public_on_cpu_with_its_secret(deployed):
    orchestrator = declared(deployed.orchestrator.Orchestrator)
    assert orchestrator.gpu is None and (orchestrator.cpu, orchestrator.memory) == (2.0, 2048)
    assert orchestrator.secrets == ["parley-orchestrator"]
    assert orchestrator.volumes == {"/recordings": "parley-recordings"}  # no container holds the only copy
    # Twilio cannot send Modal-Key headers; signatures and stream tokens protect the routes.
    assert (orchestrator.web_type, orchestrator.requires_proxy_auth) == ("WEBHOOK_TYPE_ASGI_APP", False)
    assert (orchestrator.max_inputs, orchestrator.target_inputs) == (40, 30)


def test_download_function_has_the_hf_secret_and_the_volume(deployed):
    from modal._utils.async_utils import synchronizer

    spec = synchronizer._translate_in(deployed.weights.download_weights)._spec
    assert [s._name for s in spec.secrets if s._name] == ["parley-hf"]
    assert {path: v._name for path, v in spec.volumes.items()} == {"/weights": "parley-weights"}
    assert spec.gpus is None  # downloading needs no GPU
    assert set(deployed.weights.REPOSITORIES) == {"kyutai/stt-1b-en_fr", "ResembleAI/chatterbox", "google/gemma-3-1b-it",
                                                  "Systran/faster-whisper-large-v3"}


def test_deploy_settings_flow_into_the_classes(monkeypatch):
    env = {
        "PARLEY_MODAL_APP_NAME": "parley-staging",
        "PARLEY_MODAL_VOLUME_NAME": "weights-staging",
        "PARLEY_MODAL_ORCHESTRATOR_SECRET": "orchestrator-staging",
        "PARLEY_MODAL_REGION": "us-east",
        "PARLEY_MODAL_STT__MIN_CONTAINERS": "1",
        "PARLEY_MODAL_STT__BUFFER_CONTAINERS": "2",
        "PARLEY_MODAL_STT__SCALEDOWN_WINDOW": "120",
        "PARLEY_MODAL_STT__MAX_INPUTS": "64",
        "PARLEY_MODAL_STT__TARGET_INPUTS": "48",
        "PARLEY_MODAL_TTS__GPU": "L40S",
        "PARLEY_MODAL_TTS__GPU_SNAPSHOT": "true",
        "PARLEY_MODAL_LLM__GPU": "H100",
        "PARLEY_MODAL_LLM__MAX_CONTAINERS": "2",
        "PARLEY_MODAL_ORCHESTRATOR__MIN_CONTAINERS": "1",
    }
    with fresh_modal_app(monkeypatch, **env) as module:
        assert module.app.name == "parley-staging"
        stt = declared(module.stt.SttService)
        assert (stt.min_containers, stt.buffer_containers, stt.scaledown_window) == (1, 2, 120)
        assert (stt.max_inputs, stt.target_inputs) == (64, 48)
        assert stt.gpu == "L4"  # unset fields keep their defaults
        assert stt.volumes == {"/weights": "weights-staging"}
        assert stt.regions == ["us-east"]
        # The containers get the same settings (engine batch size, snapshot phase read them there).
        assert set(env) <= set(stt.env)
        tts = declared(module.tts.TtsService)
        assert tts.gpu == "L40S"
        assert tts.experimental_options == {"enable_gpu_snapshot": "True"}
        assert tts.pre_snapshot_methods == {"import_libraries", "load"}  # the model loads inside the snapshot
        llm = declared(module.llm.LlmServer)
        assert (llm.gpu, llm.max_containers) == ("H100", 2)
        orchestrator = declared(module.orchestrator.Orchestrator)
        assert orchestrator.min_containers == 1
        assert orchestrator.secrets == ["orchestrator-staging"]


def test_settings_dicts_are_what_the_decorators_get():
    stt = SttClass(min_containers=1, buffer_containers=1)
    assert stt.cls_options() == dict(
        gpu="L4", min_containers=1, max_containers=4, buffer_containers=1, scaledown_window=300,
        timeout=3600, startup_timeout=600, enable_memory_snapshot=True,
    )  # fmt: skip
    assert stt.concurrency() == {"max_inputs": 32, "target_inputs": 24}
    assert DeploySettings(region="eu-west").options(stt)["region"] == "eu-west"
    orchestrator = DeploySettings().orchestrator.cls_options()
    assert (orchestrator["gpu"], orchestrator["cpu"], orchestrator["memory"]) == (None, 2.0, 2048)


def test_inconsistent_settings_are_refused():
    with pytest.raises(ValueError, match="target_inputs"):
        SttClass(max_inputs=8, target_inputs=16)
    with pytest.raises(ValueError, match="memory_snapshot"):
        SttClass(memory_snapshot=False, gpu_snapshot=True)


def test_only_parley_modal_variables_are_forwarded():
    environ = {"PARLEY_MODAL_STT__GPU": "H100", "HF_TOKEN": "hf_secret", "PARLEY_STT__URL": "x"}
    assert forwarded_env(environ) == {"PARLEY_MODAL_STT__GPU": "H100"}


def test_every_modal_module_is_small():
    for path in MODAL_SOURCES:
        assert len(path.read_text().splitlines()) < 300, path


def test_the_orchestrator_points_the_agent_core_at_its_siblings_unless_told_otherwise():
    from modal_services.orchestrator import fill_service_settings

    environ = {"PARLEY_TTS__BACKEND": "local"}  # the secret's choice wins
    urls = {"stt": "https://s.modal.run", "tts": "https://t.modal.run", "llm": "https://l.modal.run/",
            "orchestrator": "https://o.modal.run"}  # fmt: skip
    fill_service_settings(environ, urls)
    assert environ == {
        "PARLEY_STT__BACKEND": "remote",
        "PARLEY_STT__URL": "https://s.modal.run",
        "PARLEY_TTS__BACKEND": "local",
        "PARLEY_TTS__URL": "https://t.modal.run",
        "PARLEY_LLM__BACKEND": "openai",
        "PARLEY_LLM__BASE_URL": "https://l.modal.run/v1",
        "PARLEY_LLM__MODEL": "google/gemma-3-1b-it",
        "PARLEY_PUBLIC_URL": "https://o.modal.run",
    }


def test_the_env_block_is_what_agent_core_settings_read(monkeypatch):
    """The variable names agent_core_env writes are real Settings fields (a typo would be ignored)."""
    from agent_core.settings import Settings
    from modal_services.urls import agent_core_env

    urls = {"stt": "https://s.modal.run", "tts": "https://t.modal.run", "llm": "https://l.modal.run",
            "orchestrator": "https://o.modal.run"}  # fmt: skip
    for key, value in agent_core_env(urls, "google/gemma-3-1b-it").items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert (settings.stt.backend, settings.stt.url) == ("remote", "https://s.modal.run")
    assert (settings.tts.backend, settings.tts.url) == ("remote", "https://t.modal.run")
    assert (settings.llm.backend, settings.llm.base_url) == ("openai", "https://l.modal.run/v1")
    assert settings.llm.model == "google/gemma-3-1b-it"
    assert settings.public_url == "https://o.modal.run"


def test_cloned_voices_are_committed_and_other_containers_clones_reloaded(tmp_path):
    import io
    import time
    import wave

    from modal_services.voice_volume import VolumeVoiceLibrary

    class FakeVolume:
        commits = reloads = 0

        def commit(self):
            self.commits += 1

        def reload(self):
            self.reloads += 1
            if self.reloads == 1:
                raise RuntimeError("there are open files")  # Modal refuses; the next tick retries

    clip = io.BytesIO()
    with wave.open(clip, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000), w.writeframes(b"\0\0" * 16000 * 4)
    volume = FakeVolume()
    library = VolumeVoiceLibrary(tmp_path, volume, refresh_s=0.01)
    try:
        library.store("alice", clip.getvalue())
        assert volume.commits == 1 and library.names() == ["alice"]
        library.store("guild-7/alice", clip.getvalue())  # a guild's clone: its own folder, committed too
        assert volume.commits == 2 and library.names() == ["alice", "guild-7/alice"]
        deadline = time.monotonic() + 5
        while volume.reloads < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert volume.reloads >= 3  # kept going after a refused reload
    finally:
        library.close()


def test_the_orchestrator_image_can_reach_postgresql_but_carries_no_local_models():
    from modal_services.images import core_requirements

    names = {r.split(">")[0].split("=")[0].split(";")[0].strip() for r in core_requirements()}
    assert {"asyncpg", "alembic", "fastapi"} <= names
    assert not names & {"faster-whisper", "llama-cpp-python", "hibari-tts", "torch"}


def test_the_orchestrator_records_onto_the_volume_and_says_when_records_would_be_lost(caplog):
    from agent_core.settings import Settings
    from modal_services.orchestrator import orchestrator_env, warn_if_records_are_ephemeral

    env = orchestrator_env()
    assert env["PARLEY_RECORDING__DIRECTORY"] == "/recordings" and env["PARLEY_JOBS__RUNNER"] == "modal"
    warn_if_records_are_ephemeral(Settings(database_url="postgresql+asyncpg://u:p@db.example.com/parley"))
    assert not caplog.records
    warn_if_records_are_ephemeral(Settings())
    assert "PARLEY_DATABASE_URL is not set" in caplog.text


def test_post_call_jobs_run_on_a_gpu_function_the_orchestrator_spawns(deployed):
    from modal._utils.async_utils import synchronizer

    function = synchronizer._translate_in(deployed.postcall.run_post_call_jobs)
    spec = function._spec
    assert function._tag == deployed.postcall.FUNCTION_NAME == "run_post_call_jobs"
    assert spec.gpus == "L4"
    # The larger Whisper from the weights, the recording from where the orchestrator wrote it.
    assert {path: volume._name for path, volume in spec.volumes.items()} == {
        "/weights": "parley-weights", "/recordings": "parley-recordings"}
    assert [s._name for s in spec.secrets if s._name] == ["parley-orchestrator"]  # the database URL


class _LibraryChatterbox:
    """ChatterboxEngine's surface the adapter uses, with a voice library and no model."""

    max_streams = 2

    def __init__(self, clips: list[str]) -> None:
        self.clips, self.calls = clips, []

    def voices(self) -> list[str]:
        return list(self.clips)

    def synthesize_stream(self, text, *, voice=None, **options):
        import numpy as np

        self.calls.append((text, voice, options))
        yield np.zeros(2400, np.float32)


def test_the_tts_class_serves_the_operators_presets_and_aliases(monkeypatch):
    import json

    from fastapi.testclient import TestClient

    presets = {"narrator": {"clip": "ada", "style": {"exaggeration": 0.7, "speed": 0.9}}}
    env = {"PARLEY_MODAL_TTS__VOICE_PRESETS": json.dumps(presets),
           "PARLEY_MODAL_TTS__VOICE_ALIASES": json.dumps({"alloy": "narrator", "echo": "default"})}
    with fresh_modal_app(monkeypatch, **env) as module:
        engine = _LibraryChatterbox(["ada"])
        client = TestClient(module.tts.tts_web_app(engine, module.tts.TTS))  # what TtsService.web serves
        listing = client.get("/v1/voices").json()
        assert listing["voices"] == ["default", "ada", "narrator"]
        assert listing["aliases"] == {"alloy": "narrator", "echo": "default"}
        narrator = next(d for d in listing["details"] if d["name"] == "narrator")
        assert narrator["clone"] is False and narrator["backend"] == "chatterbox"
        assert narrator["style"] == {"speed": 0.9, "exaggeration": 0.7, "cfg_weight": 0.5, "temperature": 0.8,
                                     "seed": None}
        speech = client.post("/v1/audio/speech", json={"input": "Hello there.", "voice": "alloy",
                                                       "response_format": "pcm", "temperature": 0.6})
        assert speech.status_code == 200
        # the alias, then the preset: its clip, its style under the request's own values
        assert engine.calls[-1] == ("Hello there.", "ada", {"exaggeration": 0.7, "speed": 0.9, "temperature": 0.6})
        with client.websocket_connect("/v1/tts/stream") as ws:  # the agent core's socket honours aliases too
            ws.send_json({"type": "speak", "id": "r1", "text": "Hi there.", "voice": "alloy", "sample_rate": 24000})
            assert ws.receive_json()["type"] == "start"
        assert engine.calls[-1][1] == "ada"
        refused = client.post("/v1/audio/speech", json={"input": "Hi.", "voice": "nova", "response_format": "pcm"})
        assert refused.status_code == 400 and "narrator" in refused.json()["error"]["message"]
        with pytest.raises(ValueError, match="'ghost' speaks with 'nobody', which is not among the clips"):
            module.tts.tts_web_app(engine, module.tts.TTS.model_copy(
                update={"voice_presets": {"ghost": module.tts.TTS.voice_presets["narrator"].model_copy(
                    update={"clip": "nobody"})}}))
