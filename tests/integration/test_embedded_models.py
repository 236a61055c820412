"""The real embedded models from PyPI packages: Whisper, SmolLM2 on llama.cpp, hibari."""

import asyncio

import pytest

from agent_core import events as ev
from agent_core.audio import AudioFrame
from agent_core.audio.resample import resample
from agent_core.demo import default_question, run_demo
from agent_core.persona import load_persona
from agent_core.session import Session, SessionSettings
from agent_core.stt.whisper_local import WhisperStt
from agent_core.testing import LocalChannel, ScriptedLlm, ScriptedTts
from agent_core.tts.base import UnknownVoiceError
from agent_core.turns import TurnSettings
from tests.integration.conftest import words
from tests.sessionkit import PERSONA, speak, wait_for

pytestmark = pytest.mark.models


async def test_whisper_base_transcribes_real_speech(providers, jfk):
    text = await providers.stt.transcribe(jfk)
    assert "ask not what your country can do for you" in words(text)


async def test_whisper_tiny_en_is_selectable(settings, jfk):
    stt = WhisperStt(model="tiny.en", cache_dir=settings.models_dir)
    await stt.load()
    text = await stt.transcribe(jfk)
    assert "ask not what your country can do for you" in words(text)
    await stt.aclose()


async def test_session_transcribes_jfk_through_vad_and_turns(providers, jfk):
    """The whole speech as one turn (its pauses are under 1.2 s), through resampling, VAD and the STT stream."""
    channel = LocalChannel()
    settings = SessionSettings(turn=TurnSettings(end_of_turn_signals="silence", end_of_turn_silence_ms=1200))
    session = Session(
        stt=providers.stt, llm=ScriptedLlm(["Thank you."]), tts=ScriptedTts(), persona=PERSONA,
        channel=channel, settings=settings,
    )
    pump = asyncio.create_task(channel.pump(session))
    await session.start()
    # Telephone-rate input: the Session resamples 8 kHz to 16 kHz itself.
    await speak(session, "caller", resample(jfk, 8000), silence_s=1.5)
    [final] = await wait_for(session, ev.TranscriptFinal, timeout=60)
    assert "ask not what your country can do for you" in words(final.text)
    pump.cancel()
    await session.close()


async def test_the_embedded_voice_speaks_and_whisper_understands_it(providers):
    """Synthetic speech (hibari) round trip: the TTS says words the STT can read back."""
    frames = [f async for f in providers.tts.synthesize("Good morning, the weather is sunny and warm today.")]
    assert frames and frames[0].sample_rate == 24000
    audio = AudioFrame(b"".join(f.pcm for f in frames), 24000)
    assert 1.0 < audio.duration_s < 5.0
    text = await providers.stt.transcribe(resample(audio, 16000))
    assert "weather is sunny and warm" in words(text)


async def test_the_embedded_voice_refuses_a_voice_it_does_not_have(providers):
    assert providers.tts.voice_names() == ["heart"]
    with pytest.raises(UnknownVoiceError, match="'tara'.*known voices: heart"):
        async for _ in providers.tts.synthesize("Hello.", voice="tara"):
            pass


async def test_smollm2_answers_a_plain_question(providers):
    messages = [
        {"role": "system", "content": "You are a helpful assistant. Answer in one short sentence."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    reply = "".join([e.text async for e in providers.llm.stream(messages)])
    assert "paris" in reply.lower()


async def test_llm_stops_generating_when_the_caller_interrupts(providers):
    """Breaking out of the stream must stop llama.cpp, or it would keep a core busy on unheard text."""
    messages = [{"role": "user", "content": "Count from one to fifty in words."}]
    stream = providers.llm.stream(messages)
    async for _ in stream:
        break
    await stream.aclose()
    # The single model thread is free again at once: the next request starts promptly.
    reply = await asyncio.wait_for(
        _collect(providers.llm.stream([{"role": "user", "content": "Say hello."}])), timeout=10
    )
    assert reply.strip()


async def _collect(stream) -> str:
    return "".join([e.text async for e in stream])


async def test_full_demo_turn_on_embedded_models(providers, settings):
    persona = load_persona("default", settings.personas_dir)
    question = default_question()
    result = await run_demo(providers, persona, question, settings.session)
    assert "capital of france" in words(result.transcript)
    assert result.reply_text.strip()
    assert result.reply_audio.duration_s > 0.5
    assert result.latency_ms["voice_to_voice"] is not None and result.latency_ms["voice_to_voice"] > 0


async def test_smollm2_reads_where_a_message_ends(providers):
    """The text end-of-turn signal: P(end of message) after a finished question is far above the
    same question cut mid-phrase, and the conversation's prompt stays cached between checks."""
    conversation = [{"role": "system", "content": "You are a helpful assistant. Answer in one short sentence."}]
    llm = providers.llm
    finished = await llm.end_of_turn_probability(conversation, "What is the capital of France")
    cut = await llm.end_of_turn_probability(conversation, "What is the capital of")
    cut_after_to = await llm.end_of_turn_probability(conversation, "I would like to")
    assert finished > 0.1 > 0.002 > max(cut, cut_after_to)
    # The reply path still works on the same context afterwards.
    reply = "".join([e.text async for e in llm.stream([*conversation, {"role": "user", "content": "Say hi."}])])
    assert reply.strip()
