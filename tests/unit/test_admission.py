"""Admission control: places taken, held, given back, and refusals counted."""

import pytest

from agent_core.admission import REFUSED, Admission, default_limit
from agent_core.settings import Settings


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def refused(channel: str) -> float:
    return REFUSED.labels(channel)._value.get()


def test_places_are_taken_held_and_given_back():
    clock = Clock()
    admission = Admission(2, clock=clock)
    before = refused("phone")
    assert admission.hold("CA1", "phone", seconds=60)  # the webhook
    assert admission.admit("web-1", "realtime")
    assert not admission.hold("CA2", "phone", seconds=60)  # full: CA1's place is held for its stream
    assert refused("phone") == before + 1
    assert admission.admit("CA1", "phone")  # its stream arrives: it takes the held place
    admission.release("web-1")
    assert admission.hold("CA2", "phone", seconds=60)
    clock.now += 61  # CA2's stream never came: the place is free again
    assert admission.in_use == 1 and admission.admit("web-2", "realtime")


def test_a_stream_without_a_held_place_needs_a_free_one():
    admission = Admission(1)
    assert admission.admit("a", "discord") and not admission.admit("b", "discord")
    admission.release("a")
    assert admission.admit("b", "discord")


def test_the_default_limit_follows_the_providers():
    assert default_limit(embedded_models=True, cores=2) == 1
    assert default_limit(embedded_models=True, cores=16) == 8
    assert default_limit(embedded_models=False, cores=2) == 80
    remote = {"stt": {"backend": "remote", "url": "http://x"}, "tts": {"backend": "remote", "url": "http://x"},
              "llm": {"backend": "openai", "base_url": "http://x/v1"}}
    assert Settings(**remote).conversation_limit == default_limit(False)
    assert Settings().conversation_limit == default_limit(True)
    assert Settings(max_conversations=7).conversation_limit == 7
    with pytest.raises(ValueError):
        Admission(0)
