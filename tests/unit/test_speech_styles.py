"""Persona styles and delivery tags as per-sentence style, on the conversation path."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from agent_core import events as ev
from agent_core.persona import PersonaError, load_persona
from agent_core.testing import ScriptedLlm, ScriptedTts
from agent_core.text import SentenceSplitter
from agent_core.text.sentences import sentence_tags
from agent_core.tts.base import SpeechStyle
from agent_core.tts.styles import LIVELY_CFG_WEIGHT, StyleSettings, layered, sentence_style
from tests.sessionkit import PERSONA, make_session, wait_for

CHATTERBOX_KNOBS = ("speed", "exaggeration", "cfg_weight", "temperature", "seed")


class StyledTts(ScriptedTts):
    """ScriptedTts that records the style each sentence was given."""

    def __init__(self, knobs: tuple[str, ...]) -> None:
        super().__init__()
        self.style_knobs = knobs
        self.styles: list[tuple[str, SpeechStyle | None]] = []

    async def synthesize(self, text, *, voice=None, style=None):
        self.styles.append((text, style))
        async for frame in super().synthesize(text, voice=voice, style=style):
            yield frame


def test_the_splitter_keeps_each_pieces_tags_and_passes_a_dropped_pieces_on() -> None:
    splitter = SentenceSplitter(min_chars=0, first_min_chars=None)
    pieces = [*splitter.push("[laughs] That is a good one. Fine.\n\n*sighs*\n\n"), *splitter.push("[excited] "),
              *splitter.push("Let us go now! "), *splitter.flush()]
    assert pieces == ["That is a good one.", "Fine.", "Let us go now!"]
    # "*sighs*" alone is no piece: its tag goes with the next one
    assert [sentence_tags(p) for p in pieces] == [("laughs",), (), ("sighs", "excited")]
    raw = SentenceSplitter(normalize=False, first_min_chars=None)
    [piece] = [*raw.push("I owe $5 [laughs]."), *raw.flush()]
    assert piece == "I owe $5 ." and sentence_tags(piece) == ("laughs",)  # as is, only the tag gone


def test_sentence_style_raises_or_lowers_exaggeration_only_where_the_backend_acts_on_it() -> None:
    base = SpeechStyle(exaggeration=0.6, speed=1.1)
    lively = sentence_style(["laughs"], base, CHATTERBOX_KNOBS)
    assert lively is not None and lively.exaggeration == pytest.approx(0.95)
    assert lively.cfg_weight == LIVELY_CFG_WEIGHT and lively.speed == 1.1
    calm = sentence_style(["sighs"], base, CHATTERBOX_KNOBS)
    assert calm is not None and calm.exaggeration == pytest.approx(0.4)
    assert sentence_style(["laughs"], None, CHATTERBOX_KNOBS, SpeechStyle(exaggeration=0.9)).exaggeration == 1.2
    assert sentence_style(["clears throat"], base, CHATTERBOX_KNOBS) is base  # neither lively nor calm
    assert sentence_style(["laughs"], base, ("speed",)) is base  # Piper: the tag is only dropped
    assert sentence_style(["laughs"], None, ()) is None


def test_layered_styles_let_the_later_layer_win_field_by_field() -> None:
    assert layered(None, None) is None
    merged = layered(SpeechStyle(speed=1.2, exaggeration=0.5), None, SpeechStyle(exaggeration=0.9))
    assert merged == SpeechStyle(speed=1.2, exaggeration=0.9)


def test_persona_style_is_validated_with_the_speech_apis_ranges(tmp_path: Path) -> None:
    (tmp_path / "lively.toml").write_text('system_prompt = "x"\n[style]\nexaggeration = 0.8\nspeed = 1.2\n')
    assert load_persona("lively", tmp_path).style == StyleSettings(exaggeration=0.8, speed=1.2)
    for bad in ("exaggeration = 3.0", "cfg_weight = -1", "speed = 9", "exagerration = 0.7"):
        (tmp_path / "bad.toml").write_text(f'system_prompt = "x"\n[style]\n{bad}\n')
        with pytest.raises(PersonaError):
            load_persona("bad", tmp_path)
    assert load_persona("default", Path("config/personas")).style is None


async def test_persona_style_and_tags_reach_the_tts_per_sentence() -> None:
    tts = StyledTts(CHATTERBOX_KNOBS)
    llm = ScriptedLlm(["[laughs] Oh, that is a good one. Anyway, let me check the weather for you."])
    session, channel = make_session(tts=tts, llm=llm)
    pump = asyncio.create_task(channel.pump(session))
    session.persona = PERSONA.model_copy(update={"style": StyleSettings(exaggeration=0.4, temperature=0.7)})
    await session.start()
    session.push_text("caller", "Tell me a joke")
    await wait_for(session, ev.ReplyFinished)
    spoken = [(text, style) for text, style in tts.styles if text != PERSONA.apology]
    assert [t for t, _ in spoken] == ["Oh, that is a good one.", "Anyway, let me check the weather for you."]
    assert all("[" not in t for t, _ in spoken)
    (_, first), (_, second) = spoken
    assert first is not None and first.exaggeration == pytest.approx(0.75)
    assert first.model_dump(exclude_none=True) == {"exaggeration": first.exaggeration, "temperature": 0.7,
                                                   "cfg_weight": LIVELY_CFG_WEIGHT}
    assert second is not None and second.model_dump(exclude_none=True) == {"exaggeration": 0.4, "temperature": 0.7}
    # A change of persona style (a guild's /voice style) applies to the next reply of the live session.
    session.persona = session.persona.model_copy(update={"style": StyleSettings(speed=1.3)})
    session.say("Second reply here.")
    await wait_for(session, ev.ReplyFinished, 2)
    text, style = tts.styles[-1]
    assert text == "Second reply here." and style is not None and style.model_dump(exclude_none=True) == {"speed": 1.3}
    pump.cancel()
    await session.close()


async def test_tags_are_dropped_and_unused_knobs_logged_on_a_backend_without_them(caplog) -> None:
    tts = StyledTts(("speed",))
    session, channel = make_session(tts=tts, llm=ScriptedLlm(["[laughs] Sure thing, here it is for you now."]))
    pump = asyncio.create_task(channel.pump(session))
    session.persona = PERSONA.model_copy(update={"style": StyleSettings(exaggeration=0.9, speed=1.1)})
    with caplog.at_level(logging.WARNING):
        await session.start()
    assert "sets exaggeration, which scripted-tts does not act on" in caplog.text
    session.push_text("caller", "go")
    await wait_for(session, ev.ReplyFinished)
    text, style = tts.styles[-1]
    assert text == "Sure thing, here it is for you now."
    assert style is not None and style.model_dump(exclude_none=True) == {"exaggeration": 0.9, "speed": 1.1}
    pump.cancel()
    await session.close()
