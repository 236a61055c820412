"""GET /v1/voices describes every voice; OpenAI voice names work only through explicit aliases."""

from __future__ import annotations

import pytest
from openai import AsyncOpenAI, BadRequestError

from agent_core.tts.base import UnknownVoiceError
from agent_core.tts.hibari_local import HibariTts
from modal_services.service import create_services_app
from tests.services.kit import TOKEN, ToneTts, services


class StrictToneTts(ToneTts):
    """Refuses voices it does not have, as every real backend does."""

    style_knobs = ("speed",)

    async def synthesize(self, text, *, voice=None, style=None):
        if voice is not None and voice not in self.voices:
            raise UnknownVoiceError(voice, self.name, self.voices)
        async for frame in super().synthesize(text, voice=voice, style=style):
            yield frame


async def test_aliases_are_explicit_and_listed():
    tts = StrictToneTts()
    async with services(tts=tts, voice_aliases={"alloy": "tone"}) as url:
        client = AsyncOpenAI(base_url=url + "/v1", api_key=TOKEN, max_retries=0)
        audio = await client.audio.speech.create(model="parley", voice="alloy", input="one two", response_format="pcm")
        assert len(audio.content) == 2 * 4800
        with pytest.raises(BadRequestError, match="unknown voice 'nova'.*known voices: tone"):
            await client.audio.speech.create(model="parley", voice="nova", input="hello")
        listing = (await client.get("/voices", cast_to=object))
        await client.close()
    assert listing["aliases"] == {"alloy": "tone"}
    assert listing["details"] == [{"name": "tone", "backend": "tone-tts", "language": None, "clone": False,
                                   "style": {"speed": None, "exaggeration": None, "cfg_weight": None,
                                             "temperature": None, "seed": None},
                                   "knobs": ["speed"]}]


def test_an_alias_to_a_missing_voice_stops_the_service_from_starting():
    with pytest.raises(ValueError, match="alloy.*nobody"):
        create_services_app(tts=StrictToneTts(), voice_aliases={"alloy": "nobody"})


def test_the_embedded_voice_says_its_language_style_and_knobs():
    info = HibariTts(speed=1.1).describe_voice("heart")
    assert (info.backend, info.language, info.clone, info.style.speed, info.knobs) == (
        "hibari", "en-US", False, 1.1, ["speed", "seed"]
    )
