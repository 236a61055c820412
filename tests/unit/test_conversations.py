"""Opening and closing conversations: places, personas with overrides, records."""

from __future__ import annotations

import logging

import pytest

from agent_core.admission import Admission
from agent_core.conversations import Conversations, Overrides
from agent_core.persona import PersonaError
from agent_core.providers import Providers
from agent_core.recorder import ConversationStart
from agent_core.settings import Settings
from agent_core.storage import Database
from agent_core.storage.jobs import JobStore
from agent_core.testing import LocalChannel, ScriptedLlm, ScriptedStt, ScriptedTts
from tests.telephony.kit import write_persona


def conversations(tmp_path, db=None, limit: int = 2, persona: str = "quiet") -> Conversations:
    write_persona(tmp_path / "personas")
    settings = Settings(data_dir=tmp_path, persona=persona, personas_path=tmp_path / "personas")
    providers = Providers(stt=ScriptedStt([]), llm=ScriptedLlm([]), tts=ScriptedTts())
    return Conversations(settings, providers, db, admission=Admission(limit))


def start(external_id: str) -> ConversationStart:
    return ConversationStart(channel="phone", external_id=external_id)


async def test_past_the_limit_a_conversation_is_refused_and_its_place_is_not_taken(tmp_path):
    conv = conversations(tmp_path, limit=1)
    first = await conv.open(start("CA1"), LocalChannel())
    assert first is not None and first.session is not None and first.persona.name == "quiet"
    assert await conv.open(start("CA2"), LocalChannel()) is None
    assert conv.admission.in_use == 1
    await conv.close(first)
    await conv.close(first)  # twice is once
    assert conv.admission.in_use == 0 and conv.open_conversations == {}
    assert await conv.open(start("CA2"), LocalChannel()) is not None


async def test_a_missing_overriding_persona_falls_back_to_the_default_with_an_error(tmp_path, caplog):
    conv = conversations(tmp_path)
    with caplog.at_level(logging.ERROR):
        persona = await conv.persona(Overrides(persona="gone", voice="ada"))
    assert persona.name == "quiet" and persona.voice == "ada"
    assert "persona 'gone' is missing" in caplog.text


async def test_a_missing_default_persona_is_an_error_and_gives_its_place_back(tmp_path):
    conv = conversations(tmp_path, persona="nobody")
    with pytest.raises(PersonaError, match="nobody"):
        await conv.open(start("CA1"), LocalChannel())
    assert conv.admission.in_use == 0


async def test_a_closed_conversation_is_recorded_with_its_post_call_jobs(tmp_path):
    db = Database.for_data_dir(tmp_path)
    await db.migrate()
    conv = conversations(tmp_path, db)
    opened = await conv.open(start("CA1"), LocalChannel(), Overrides(record=False))
    assert opened is not None and opened.recording is None  # the number's choice over the phone default
    await conv.close(opened, stats={"frames": 3})
    await conv.aclose()
    record = await db.get_conversation(channel="phone", external_id="CA1")
    assert record is not None and record.status == "completed" and record.stats == {"frames": 3}
    assert record.persona == "quiet"
    assert [job.kind for job in await JobStore(db).for_conversation(record.id)] == ["summary"]
    await db.close()
