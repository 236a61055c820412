"""`parley deploy` without Modal: clear errors, and the exact commands it would run.

The subprocess runner and the URL lookup are the edges to Modal; they are replaced here.
"""

from __future__ import annotations

import os
import sys

import pytest
from typer.testing import CliRunner

from parley import deploy as deploy_module
from parley.cli import app

URLS = {
    "stt": "https://ws--parley-sttservice-web.modal.run",
    "tts": "https://ws--parley-ttsservice-web.modal.run",
    "llm": "https://ws--parley-llmserver-web.modal.run/",
    "orchestrator": "https://ws--parley-orchestrator-web.modal.run",
}


def output(result) -> str:
    return " ".join(result.output.split())


@pytest.fixture
def no_token(monkeypatch, tmp_path):
    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    monkeypatch.delenv("MODAL_TOKEN_SECRET", raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "absent.toml"))
    for key in [k for k in os.environ if k.startswith("PARLEY_MODAL_")]:
        monkeypatch.delenv(key)


@pytest.fixture
def token(no_token, monkeypatch):
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-test")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-do-not-print-me")


@pytest.fixture
def modal_calls(monkeypatch):
    """Record the commands instead of running them; the deployed URLs are canned."""
    calls: list[list[str]] = []

    def run(command: list[str]) -> int:
        calls.append(command)
        return 0

    monkeypatch.setattr(deploy_module, "run_subprocess", run)
    monkeypatch.setattr(deploy_module, "lookup_urls", lambda app_name, environment: URLS)
    return calls


def test_without_a_modal_token_it_says_how_to_get_one(no_token, modal_calls):
    result = CliRunner().invoke(app, ["deploy"])
    assert result.exit_code == 2
    assert "no Modal token" in output(result) and "modal token new" in output(result)
    assert modal_calls == []


def test_without_the_modal_client_it_says_what_to_install(token, modal_calls, monkeypatch):
    monkeypatch.setattr(deploy_module, "modal_installed", lambda: False)
    result = CliRunner().invoke(app, ["deploy"])
    assert result.exit_code == 2
    assert "pip install 'parley[modal]'" in output(result)


def test_a_token_in_the_modal_config_file_counts(no_token, monkeypatch, tmp_path):
    config = tmp_path / "modal.toml"
    config.write_text('[default]\ntoken_id = "ak-1"\ntoken_secret = "as-1"\nactive = true\n')
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(config))
    assert deploy_module.modal_token_configured()
    config.write_text("[default]\nactive = true\n")
    assert not deploy_module.modal_token_configured()
    config.write_text("not toml [")
    assert not deploy_module.modal_token_configured()


def test_deploy_runs_modal_deploy_and_prints_the_settings(token, modal_calls):
    result = CliRunner().invoke(app, ["deploy"])
    assert result.exit_code == 0, result.output
    assert modal_calls == [[sys.executable, "-m", "modal", "deploy", "-m", "modal_services.app"]]
    text = result.output
    assert f"PARLEY_STT__BACKEND=remote\nPARLEY_STT__URL={URLS['stt']}\n" in text
    assert f"PARLEY_TTS__BACKEND=remote\nPARLEY_TTS__URL={URLS['tts']}\n" in text
    assert "PARLEY_LLM__BACKEND=openai\nPARLEY_LLM__BASE_URL=https://ws--parley-llmserver-web.modal.run/v1\n" in text
    assert "PARLEY_LLM__MODEL=google/gemma-3-1b-it" in text
    assert f"PARLEY_PUBLIC_URL={URLS['orchestrator']}" in text
    assert "PARLEY_SERVICES__MODAL_KEY=wk-..." in text  # a placeholder, never a value
    assert f"{URLS['orchestrator']}/twilio/voice" in output(result)
    assert "as-do-not-print-me" not in text


def test_download_weights_runs_first_and_the_environment_is_passed_on(token, modal_calls):
    result = CliRunner().invoke(app, ["deploy", "--download-weights", "--env", "staging"])
    assert result.exit_code == 0, result.output
    modal = [sys.executable, "-m", "modal"]
    assert modal_calls == [
        [*modal, "run", "--env", "staging", "-m", "modal_services.app::download_weights"],
        [*modal, "deploy", "--env", "staging", "-m", "modal_services.app"],
    ]


def test_a_failed_step_stops_there(token, modal_calls, monkeypatch):
    monkeypatch.setattr(deploy_module, "run_subprocess", lambda command: modal_calls.append(command) or 1)
    result = CliRunner().invoke(app, ["deploy", "--download-weights"])
    assert result.exit_code == 1
    assert len(modal_calls) == 1 and "download_weights" in modal_calls[0][-1]
    assert "failed (exit 1)" in output(result)


def test_the_app_name_comes_from_the_deploy_settings(token, modal_calls, monkeypatch):
    seen = []
    monkeypatch.setenv("PARLEY_MODAL_APP_NAME", "parley-staging")
    monkeypatch.setattr(deploy_module, "lookup_urls", lambda name, env: seen.append(name) or URLS)
    assert CliRunner().invoke(app, ["deploy"]).exit_code == 0
    assert seen == ["parley-staging"]


def test_the_command_line_is_one_modal_accepts():
    """Modal's own CLI parses what `parley deploy` builds (no network: --help exits first)."""
    from click.testing import CliRunner as ClickRunner
    from modal.cli.entry_point import entrypoint_cli

    for command in (deploy_module.deploy_command("staging"), deploy_module.download_command("staging")):
        result = ClickRunner().invoke(entrypoint_cli, [*command[3:], "--help"])
        assert result.exit_code == 0, result.output


def test_an_invalid_scaling_setting_is_refused_before_anything_runs(token, modal_calls, monkeypatch):
    monkeypatch.setenv("PARLEY_MODAL_STT__TARGET_INPUTS", "99")  # above max_inputs (32)
    result = CliRunner().invoke(app, ["deploy"])
    assert result.exit_code == 2
    assert "PARLEY_MODAL_" in output(result) and "target_inputs" in output(result)
    assert modal_calls == []
