"""Personas: who the agent is. Data files in config/personas/*.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from agent_core.session_settings import SessionSettings
from agent_core.tts.styles import StyleSettings


class PersonaError(ValueError):
    pass


class Persona(BaseModel):
    name: str
    system_prompt: str
    greeting: str = ""
    voice: str | None = None  # a TTS voice name; None = the backend's default
    # How the voice speaks (a `[style]` table: speed, exaggeration, cfg_weight, temperature, seed),
    # in the speech API's ranges; None = the voice's own. A backend acts on the knobs its voice
    # registry lists (GET /v1/voices `knobs`) and ignores the others, which is logged at start.
    style: StyleSettings | None = None
    language: str = "en"
    # Spoken when a provider fails mid-turn, so the caller never hears dead air.
    apology: str = "Sorry, I had a problem there. Could you say that again?"
    # Record this persona's conversations; None = the channel's default (settings.recording).
    record: bool | None = None
    # Turn-taking for this persona, over the global settings (a `[turn]` table of TurnSettings
    # fields): e.g. a dictation persona waits longer at pauses (`incomplete_max_silence_ms = 4000`).
    turn: dict[str, Any] = {}

    def session_settings(self, base: SessionSettings) -> SessionSettings:
        """`base` with this persona's turn-taking applied (guild/number overrides go on top)."""
        if not self.turn:
            return base
        turn = type(base.turn).model_validate({**base.turn.model_dump(), **self.turn})
        return base.model_copy(update={"turn": turn})


def load_persona(name: str, personas_dir: Path) -> Persona:
    path = personas_dir / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(list_personas(personas_dir)) or "none"
        raise PersonaError(f"no persona named {name!r} in {personas_dir} (known: {known})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        persona = Persona(name=name, **data)
        persona.session_settings(SessionSettings())  # a misspelt turn setting fails here, at load
        return persona
    except (tomllib.TOMLDecodeError, ValidationError, TypeError) as exc:
        raise PersonaError(f"persona file {path} is invalid: {exc}") from exc


def list_personas(personas_dir: Path) -> list[str]:
    return sorted(p.stem for p in personas_dir.glob("*.toml"))
