"""One conversation: audio in, turns, LLM, TTS, playback out, barge-in.

State: LISTENING (nothing to say), THINKING (a reply is being prepared),
SPEAKING (reply audio is queued or playing), CLOSED. Each speaker has a
Listener (their VAD, turn detection and transcript); replies are produced one
at a time, and a speaker who starts talking over a reply interrupts it.

Errors from a provider end the turn with the persona's spoken apology; nothing
raised inside a turn escapes the Session.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from agent_core import events as ev
from agent_core.audio.frames import AudioFrame
from agent_core.barge_in import ReplyHold
from agent_core.channel import AudioTap, Channel
from agent_core.errors import ProviderError
from agent_core.listener import Heard, Listener
from agent_core.llm.base import LanguageModel, Message
from agent_core.metrics import TurnLatency, turn_latency
from agent_core.persona import Persona
from agent_core.playback import PlaybackChunk, PlaybackQueue, SpokenReply
from agent_core.prompt import prompt_messages
from agent_core.session_barge_in import SessionBargeIn
from agent_core.session_settings import SessionSettings
from agent_core.smart_turn import SmartTurn
from agent_core.speech import SpeechOut
from agent_core.stt.base import SpeechToText, final_transcript
from agent_core.thinking import Thinker
from agent_core.tools import ToolRegistry
from agent_core.tts.base import TextToSpeech
from agent_core.turn_judge import TurnJudge
from agent_core.turns import TurnSignal
from agent_core.vad import SileroVad
from agent_core.vad_batch import VadBatch

log = logging.getLogger(__name__)


class SessionState(enum.Enum):
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    CLOSED = "closed"


class Session(SessionBargeIn):
    def __init__(
        self,
        *,
        stt: SpeechToText,
        llm: LanguageModel,
        tts: TextToSpeech,
        persona: Persona,
        channel: Channel,
        vad: SileroVad | VadBatch | None = None,
        smart_turn: SmartTurn | None = None,
        settings: SessionSettings | None = None,
        tools: ToolRegistry | None = None,
        label_speakers: bool = False,
        on_idle: Callable[[], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or SessionSettings()
        self.persona = persona
        self.channel = channel
        self.tools = tools or ToolRegistry()
        self.label_speakers = label_speakers  # "Alice: ..." in the prompt when several people talk
        # When set, only what passes it gets a reply (e.g. the bot's name was said);
        # everything else still goes into the history as context.
        self.reply_filter: Callable[[str, str], bool] | None = None
        self._stt, self._llm, self._tts = stt, llm, tts
        self._vad = vad or SileroVad.shared()
        self._smart_turn = smart_turn  # None: the process-wide model, loaded off the loop when first asked
        self._clock = clock
        self._on_idle = on_idle
        self.history: list[Message] = []
        # The recent events, for diagnostics and tests; bounded, since a Discord channel may talk
        # for days. Each turn's latency is kept as the turn ends (a bounded list too).
        self.events: deque[ev.SessionEvent] = deque(maxlen=self.settings.recent_events)
        self._latencies: deque[TurnLatency] = deque(maxlen=self.settings.recent_events // 10)
        self._listeners: list[Callable[[ev.SessionEvent], None]] = []
        self._audio_taps: list[AudioTap] = []
        self._speakers: dict[str, Listener] = {}
        self.playback = PlaybackQueue()
        self._hold = ReplyHold(self.playback)  # a reply silenced by speech that may be a cough
        self._speech = SpeechOut(
            tts,
            self.playback,
            channel.output_sample_rate,
            self.settings.playback_chunk_ms,
            self.settings.tts_first_audio_timeout_s,
        )
        self._pending_transcripts: list[tuple[str, int, asyncio.Task[str]]] = []
        self._reply: SpokenReply | None = None
        self._reply_task: asyncio.Task[None] | None = None
        self._next_turn = 1
        self._text_waiting = False  # text input that no reply has answered yet
        self._last_activity = clock()
        self._idle_task: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()  # flushes, barge-in decisions
        self._closed = False


    def subscribe(self, listener: Callable[[ev.SessionEvent], None]) -> None:
        self._listeners.append(listener)

    def add_audio_tap(self, tap: AudioTap) -> None:
        """Let `tap` see every frame heard from a speaker and every chunk the listener heard played."""
        self._audio_taps.append(tap)

    def _emit(self, event: ev.SessionEvent) -> None:
        self.events.append(event)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("session event listener failed on %s", type(event).__name__)

    @property
    def state(self) -> SessionState:
        if self._closed:
            return SessionState.CLOSED
        if self._reply is not None and self._reply.handed_out:
            return SessionState.SPEAKING
        if self._reply is not None or self._pending_transcripts:
            return SessionState.THINKING
        return SessionState.LISTENING

    def latencies(self) -> list[TurnLatency]:
        """The latest turns' latencies, oldest first (each computed once, as its reply finished)."""
        return list(self._latencies)


    async def start(self) -> None:
        """Prepare the apology, then greet. Call once the channel is ready to play."""
        if ignored := self._speech.ignored_knobs(self.persona.style):  # said once, not per sentence
            log.warning("persona %s sets %s, which %s does not act on", self.persona.name, ", ".join(ignored), self._tts.name)
        await self._speech.prepare_apology(self.persona.apology, self.persona.voice, self.persona.style)
        if self.settings.idle_timeout_s > 0:
            self._idle_task = asyncio.create_task(self._watch_idle(), name="session-idle")
        if self.persona.greeting:
            # The greeting is fixed text, not the model's words; kept out of the prompt
            # because small models imitate it (SmolLM2 answers in French after "Parley").
            self.say(self.persona.greeting, turn=0, remember=False)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in (self._reply_task, self._idle_task, *(t for _, _, t in self._pending_transcripts)):
            if task is not None:
                task.cancel()
        if self._reply is not None:
            self._finish_reply(self._reply, interrupted=not self._reply.all_played)
        for listener in self._speakers.values():
            stream = listener.end_utterance()
            if stream is not None:
                await stream.aclose()
        self.playback.clear()
        self._emit(ev.SessionClosed(t=self._clock(), turn=self._next_turn - 1))


    def push_audio(self, speaker: str, frame: AudioFrame) -> None:
        """Caller audio at the channel's rate. Cheap and non-blocking (VAD is ~0.3 ms per 32 ms)."""
        if self._closed:
            return
        for tap in self._audio_taps:
            tap.speaker_audio(speaker, frame)
        listener = self._speakers.get(speaker)
        if listener is None:
            judge = TurnJudge(smart_turn=self._smart_turn, llm=self._llm, language=self.persona.language,
                              conversation=self._prompt)
            listener = Listener(speaker, self._vad, self.settings.turn, self.settings.preroll_ms, judge, self._heard)
            self._speakers[speaker] = listener
        for heard in listener.hear(frame):
            self._heard(listener, heard)
        held = self._hold.held
        if held is not None and held.speaker == speaker and not held.deciding:
            self._settle_hold(listener, held)

    def _heard(self, listener: Listener, heard: Heard) -> None:
        if self._closed:  # a batched VAD's result can come back after the call ended
            return
        now = self._clock()
        if heard.signal is TurnSignal.SPEECH_STARTED:
            self._speech_started(listener, now - heard.seconds_ago)
        elif heard.signal is TurnSignal.TURN_ENDED:
            self._turn_ended(listener, now, now - heard.seconds_ago)

    def push_text(self, speaker: str, text: str) -> None:
        """Text that is part of the conversation without being speech (DTMF, chat)."""
        if self._closed or not text.strip():
            return
        self._last_activity = self._clock()
        self._emit(ev.TextInput(t=self._last_activity, turn=self._next_turn, speaker=speaker, text=text))
        self.history.append({"role": "user", "content": self._labelled(speaker, text)})
        self._text_waiting = True
        self._start_reply()

    def say(self, text: str, *, turn: int | None = None, remember: bool = True) -> None:
        """Speak fixed text (greeting, goodbye, an admin's /say) without the LLM."""
        if self._closed or not text.strip():
            return
        self._start_reply(fixed_text=text, turn=turn, remember=remember)

    def update_settings(self, settings: SessionSettings) -> None:
        """An admin's change: it applies from every speaker's next audio on."""
        self.settings = settings
        for listener in self._speakers.values():
            listener.detector.settings = settings.turn

    def interrupt(self, speaker: str = "adapter") -> None:
        """Barge-in requested by the adapter (e.g. a key press): no doubt about it, no hold."""
        self._barge_in(speaker, self._clock(), hold=False)


    async def audio_out(self) -> AsyncIterator[PlaybackChunk]:
        """The channel contract's output: every chunk to play, in order, never one of a reply that
        is finished or interrupted; the adapter calls `audio_played` once a chunk was heard."""
        while not self._closed:
            chunk = await self.playback.get()
            if chunk.reply.finished:  # interrupted while it waited in the queue
                continue
            self._hold.handed_out(chunk)
            if not chunk.reply.handed_out:
                chunk.reply.handed_out = True
                self._emit(ev.FirstAudioOut(t=self._clock(), turn=chunk.reply.turn))
            yield chunk

    def audio_played(self, chunk: PlaybackChunk) -> None:
        for tap in self._audio_taps:
            tap.agent_audio_played(chunk)
        self._hold.played(chunk)
        chunk.segment.played_samples += chunk.frame.samples
        if chunk.reply is self._reply and chunk.reply.all_played:
            self._finish_reply(chunk.reply, interrupted=False)


    def _speech_started(self, listener: Listener, onset_t: float) -> None:
        self._last_activity = onset_t
        try:
            listener.start_utterance(self._stt.open_stream(language=self.persona.language))
        except Exception as exc:  # the turn will end in an apology; keep listening
            log.warning("STT stream could not open: %s", exc)
            self._emit(ev.ProviderFault(t=self._clock(), turn=self._next_turn, stage="stt", error=str(exc)))
        self._emit(ev.SpeechStarted(t=self._clock(), turn=self._next_turn, speaker=listener.speaker, onset_t=onset_t))
        if self.settings.allow_interruptions:
            self._barge_in(listener.speaker, onset_t, hold=self.settings.barge_in.resume_after_false_interruption)

    def _turn_ended(self, listener: Listener, now: float, speech_end_t: float) -> None:
        held = self._hold.held
        if held is not None and held.speaker == listener.speaker:
            held.ended = (now, speech_end_t)  # whose turn it was is decided by the transcript
            return
        self._last_activity = now
        turn = self._next_turn
        self._emit(ev.SpeechEnded(t=speech_end_t, turn=turn, speaker=listener.speaker))
        self._emit(ev.TurnEnded(t=now, turn=turn, speaker=listener.speaker))
        stream = listener.end_utterance()
        task = asyncio.create_task(final_transcript(stream, self.settings.stt_timeout_s), name=f"stt-{listener.speaker}")
        self._pending_transcripts.append((listener.speaker, turn, task))
        self._start_reply()

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._side_tasks.add(task)  # held until done: the loop keeps only weak references to tasks
        task.add_done_callback(self._side_tasks.discard)

    async def _flush_channel(self) -> None:
        try:
            await self.channel.flush()
        except Exception:
            log.exception("channel flush failed")


    def _start_reply(self, *, fixed_text: str | None = None, turn: int | None = None, remember: bool = True) -> None:
        if turn is None:
            turn = self._next_turn
        self._next_turn = max(self._next_turn, turn + 1)
        previous = self._reply_task
        reply = SpokenReply(turn, remember=remember)
        self._reply_task = asyncio.create_task(self._reply_turn(reply, previous, fixed_text), name=f"reply-{turn}")

    async def _reply_turn(self, reply: SpokenReply, previous: asyncio.Task[None] | None, fixed_text: str | None) -> None:
        turn = reply.turn
        if previous is not None and not previous.done():
            await asyncio.wait([previous])  # replies never overlap; a barge-in already cancelled it
        self._reply = reply
        try:
            if fixed_text is not None:
                reply.text = fixed_text
                await self._speech.speak_text(reply, fixed_text, self.persona.voice, self._turn_events(reply),
                                              self.persona.language, self.persona.style)
            elif await self._collect_transcripts(turn):
                await self._generate(reply)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stage = exc.stage if isinstance(exc, ProviderError) else "session"
            log.warning("turn %d failed in %s: %s", turn, stage, exc, exc_info=not isinstance(exc, ProviderError))
            self._emit(ev.ProviderFault(t=self._clock(), turn=turn, stage=stage, error=str(exc)))
            self._speech.apologize(reply)
        finally:
            reply.generation_done = True
        if reply.all_played:
            self._finish_reply(reply, interrupted=False)

    async def _collect_transcripts(self, turn: int) -> bool:
        """Move finished transcripts into history, in the order the turns ended."""
        added = False
        wanted = self.reply_filter is None
        while self._pending_transcripts:
            speaker, _, task = self._pending_transcripts[0]
            # shield: a barge-in cancels the reply, never the transcript of what was said
            try:
                text = await asyncio.shield(task)
            finally:
                if task.done():
                    self._pending_transcripts.pop(0)
            self._emit(ev.TranscriptFinal(t=self._clock(), turn=turn, speaker=speaker, text=text))
            if text.strip():
                self.history.append({"role": "user", "content": self._labelled(speaker, text)})
                added = True
                wanted = wanted or self.reply_filter(speaker, text)  # type: ignore[misc]  # not None when not wanted
        added = (added and wanted) or self._text_waiting
        self._text_waiting = False
        return added

    async def _generate(self, reply: SpokenReply) -> None:
        messages = self._prompt()
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        try:
            # The TTS speaks sentence one while the LLM still writes sentence two.
            async with asyncio.TaskGroup() as group:
                voice, events = self.persona.voice, self._turn_events(reply)
                group.create_task(self._speech.speak_queue(reply, sentences, voice, events, self.persona.style))
                try:
                    await self._thinker().think(reply, messages, self.history, sentences, events)
                finally:
                    sentences.put_nowait(None)
        except BaseExceptionGroup as group_error:
            raise group_error.exceptions[0] from None

    def _finish_reply(self, reply: SpokenReply, *, interrupted: bool) -> None:
        if reply.finished:
            return
        reply.finished = True
        heard = reply.heard_text()
        if heard and reply.remember:
            self.history.append({"role": "assistant", "content": heard})
        latency = turn_latency(reply.turn, self.events)
        if reply.turn >= 1:  # a turn someone started (turn 0 is the greeting)
            self._latencies.append(latency)
        self._emit(ev.ReplyFinished(t=self._clock(), turn=reply.turn, text=reply.text, heard_text=heard,
                                    interrupted=interrupted, latency=latency))
        if self._reply is reply:
            self._reply = None

    def _thinker(self) -> Thinker:
        s = self.settings
        return Thinker(
            self._llm,
            self.tools,
            first_token_timeout_s=s.llm_first_token_timeout_s,
            token_gap_timeout_s=s.llm_token_gap_timeout_s,
            max_tool_rounds=s.max_tool_rounds,
            language=self.persona.language,
        )

    def _turn_events(self, reply: SpokenReply) -> ev.TurnEvents:
        return ev.TurnEvents(reply.turn, self._clock, self._emit)

    def _prompt(self) -> list[Message]:
        return prompt_messages(self.persona.system_prompt, self.history, self.settings.max_history_messages)

    def _labelled(self, speaker: str, text: str) -> str:
        return f"{speaker}: {text}" if self.label_speakers else text

    async def _watch_idle(self) -> None:
        timeout = self.settings.idle_timeout_s
        while not self._closed:
            await asyncio.sleep(min(1.0, timeout))
            idle = self._clock() - self._last_activity
            if self.state is SessionState.LISTENING and idle >= timeout:
                self._emit(ev.SessionIdle(t=self._clock(), turn=self._next_turn - 1, idle_s=idle))
                self._last_activity = self._clock()
                if self._on_idle is not None:
                    result = self._on_idle()
                    if asyncio.iscoroutine(result):
                        await result
