"""Settings layering, personas and the tool registry."""

import pytest

from agent_core.llm.base import ToolCall
from agent_core.paths import config_dir
from agent_core.persona import PersonaError, list_personas, load_persona
from agent_core.settings import Settings
from agent_core.tools import Tool, ToolRegistry


def test_defaults_come_from_the_toml_file():
    settings = Settings()
    assert settings.session.turn.end_of_turn_silence_ms == 1200
    assert settings.session.turn.end_of_turn_signals == "audio+text"
    assert settings.session.barge_in.backchannel_max_ms == 1200
    assert settings.stt.model == "base"
    assert settings.llm.backend == "local"


def test_environment_overrides_nested_values(monkeypatch):
    monkeypatch.setenv("PARLEY_SESSION__TURN__END_OF_TURN_SILENCE_MS", "750")
    monkeypatch.setenv("PARLEY_LLM__BACKEND", "openai")
    monkeypatch.setenv("PARLEY_LLM__API_KEY", "sk-secret-value")
    settings = Settings()
    assert settings.session.turn.end_of_turn_silence_ms == 750
    assert settings.llm.backend == "openai"
    assert "sk-secret-value" not in repr(settings)  # secrets never print
    assert settings.llm.api_key.get_secret_value() == "sk-secret-value"


def test_dotenv_file_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("PARLEY_STT__MODEL=tiny.en\n")
    assert Settings().stt.model == "tiny.en"


def test_bad_value_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PARLEY_STT__MODEL", "huge")
    with pytest.raises(ValueError, match="stt.model"):
        Settings()


def test_openai_backend_needs_a_base_url(monkeypatch):
    from agent_core.providers import _build_llm

    monkeypatch.setenv("PARLEY_LLM__BACKEND", "openai")
    with pytest.raises(ValueError, match="PARLEY_LLM__BASE_URL"):
        _build_llm(Settings())


def test_shipped_personas_load():
    personas_dir = config_dir() / "personas"
    assert {"default", "concierge"} <= set(list_personas(personas_dir))
    persona = load_persona("default", personas_dir)
    assert persona.greeting and persona.apology and persona.system_prompt


def test_unknown_or_broken_persona_is_a_clear_error(tmp_path):
    (tmp_path / "broken.toml").write_text("system_prompt = [not valid")
    with pytest.raises(PersonaError, match="no persona named 'nobody'.*broken"):
        load_persona("nobody", tmp_path)
    with pytest.raises(PersonaError, match="invalid"):
        load_persona("broken", tmp_path)


async def test_tool_registry_reports_problems_to_the_model():
    async def fails(arguments):
        raise RuntimeError("line busy")

    async def echo(arguments):
        return f"ok {arguments['x']}"

    registry = ToolRegistry()
    assert not registry
    registry.register(Tool("echo", "Echo.", echo, {"type": "object", "properties": {"x": {"type": "string"}}}))
    registry.register(Tool("fails", "Fails.", fails))
    assert [s["function"]["name"] for s in registry.schemas()] == ["echo", "fails"]
    assert await registry.call(ToolCall("1", "echo", '{"x": "y"}')) == "ok y"
    assert await registry.call(ToolCall("2", "nope", "{}")) == "error: no tool named 'nope'"
    assert (await registry.call(ToolCall("3", "echo", "[1]"))).startswith("error: bad arguments")
    assert await registry.call(ToolCall("4", "fails", "{}")) == "error: fails failed: line busy"


def test_every_secret_setting_is_known_to_the_log_scrubber(monkeypatch):
    """The secrets to redact come from the settings' SecretStr fields, nested sections included."""
    from agent_core.settings import Settings, secret_values

    monkeypatch.setenv("DISCORD_TOKEN", "discord-secret")
    monkeypatch.setenv("PARLEY_SERVICES__MODAL_SECRET", "modal-secret")
    monkeypatch.setenv("PARLEY_LLM__API_KEY", "llm-key")
    monkeypatch.setenv("PARLEY_ADMIN_TOKEN", "admin-secret")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "twilio-secret")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "modal-client-secret")
    monkeypatch.setenv("PARLEY_JOBS__WEBHOOK_SECRET", "webhook-secret")
    monkeypatch.setenv("PARLEY_RECORDING__S3_ACCESS_KEY_ID", "s3-key-id")
    monkeypatch.setenv("PARLEY_RECORDING__S3_SECRET_ACCESS_KEY", "s3-secret")
    assert set(secret_values(Settings())) == {"discord-secret", "modal-secret", "llm-key", "admin-secret",
                                              "twilio-secret", "modal-client-secret", "webhook-secret",
                                              "s3-key-id", "s3-secret"}


def test_twilio_discord_and_deploy_are_sections_of_the_one_tree_under_their_documented_names(monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC123")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "twilio-secret")
    monkeypatch.setenv("TWILIO_PHONE_NUMBER", "+15550001111")
    monkeypatch.setenv("PARLEY_TWILIO_VALIDATE_SIGNATURES", "false")
    monkeypatch.setenv("PARLEY_TWILIO_TRANSFER_TO", "+15550002222")
    monkeypatch.setenv("PARLEY_TWILIO_STREAM_TOKEN_TTL_S", "30")
    monkeypatch.setenv("DISCORD_TOKEN", " discord-token\n")  # pasted with its newline
    monkeypatch.setenv("PARLEY_MODAL_APP_NAME", "parley-staging")
    monkeypatch.setenv("PARLEY_MODAL_STT__MIN_CONTAINERS", "1")
    settings = Settings()
    twilio = settings.twilio
    assert (twilio.account_sid, twilio.phone_number, twilio.transfer_to) == ("AC123", "+15550001111", "+15550002222")
    assert twilio.auth_token.get_secret_value() == "twilio-secret"
    assert twilio.validate_signatures is False and twilio.stream_token_ttl_s == 30
    assert settings.discord.bot_token == "discord-token"
    assert settings.deploy.app_name == "parley-staging" and settings.deploy.stt.min_containers == 1
    # The nested form of the tree works too, and a section given in code keeps the rest of its names.
    monkeypatch.setenv("PARLEY_TWILIO__TRANSFER_TO", "+15550003333")
    assert Settings().twilio.transfer_to == "+15550003333"
    assert Settings().twilio.auth_token.get_secret_value() == "twilio-secret"


def test_an_invalid_setting_names_where_it_came_from(monkeypatch):
    from pydantic import ValidationError

    from agent_core.settings import invalid_settings_message

    monkeypatch.setenv("PARLEY_MODAL_STT__TARGET_INPUTS", "99")  # above max_inputs
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert invalid_settings_message(raised.value).startswith("a PARLEY_MODAL_* setting is invalid")
    monkeypatch.delenv("PARLEY_MODAL_STT__TARGET_INPUTS")
    monkeypatch.setenv("PARLEY_PORT", "eighty")
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert invalid_settings_message(raised.value).startswith("a PARLEY_* setting is invalid")


def test_the_deploy_section_imports_nothing_the_modal_images_lack():
    """The GPU images import agent_core.deploy_settings with pydantic-settings only: no numpy, no audio."""
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys, agent_core.deploy_settings; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                cwd=Path(__file__).resolve().parents[2]).stdout.split())
    assert "agent_core" in loaded and "pydantic_settings" in loaded
    assert not loaded & {"numpy", "soxr", "fastapi", "onnxruntime"}


def test_a_persona_tunes_turn_taking_and_a_typo_is_refused(tmp_path):
    from agent_core.session import SessionSettings

    (tmp_path / "dictation.toml").write_text(
        'system_prompt = "Take notes."\n[turn]\nincomplete_max_silence_ms = 4000\nend_of_turn_silence_ms = 1500\n'
    )
    persona = load_persona("dictation", tmp_path)
    base = SessionSettings()
    tuned = persona.session_settings(base)
    assert tuned.turn.incomplete_max_silence_ms == 4000 and tuned.turn.end_of_turn_silence_ms == 1500
    assert tuned.turn.check_silence_ms == base.turn.check_silence_ms  # the rest stays global
    (tmp_path / "typo.toml").write_text('system_prompt = "x"\n[turn]\nincomplete_max_silence = 4000\n')
    with pytest.raises(PersonaError, match="incomplete_max_silence"):
        load_persona("typo", tmp_path)
