"""The Session's side of barge-in: quiet the channel at once, then interrupt, or hold and decide.

Speech over a reply stops the audio immediately (the channel is flushed). The reply is then
either interrupted for good, or held (agent_core/barge_in.py decides which) until what was said
is known: a cough or an "uh-huh" resumes it from where the listener stopped hearing it, words
interrupt it. A mixin of `Session`, kept apart so each decision sits in one place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from agent_core import events as ev
from agent_core.barge_in import BargeInStep, HeldReply, ReplyHold, next_step, read_sound
from agent_core.listener import Listener
from agent_core.playback import SpokenReply

if TYPE_CHECKING:
    from collections.abc import Callable

    from agent_core.persona import Persona
    from agent_core.session_settings import SessionSettings


class SessionBargeIn:
    # Provided by Session.
    settings: SessionSettings
    persona: Persona
    _hold: ReplyHold
    _reply: SpokenReply | None
    _reply_task: asyncio.Task[None] | None
    _clock: Callable[[], float]

    def _emit(self, event: ev.SessionEvent) -> None: ...
    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None: ...
    async def _flush_channel(self) -> None: ...
    def _finish_reply(self, reply: SpokenReply, *, interrupted: bool) -> None: ...
    def _turn_ended(self, listener: Listener, now: float, speech_end_t: float) -> None: ...

    def _barge_in(self, speaker: str, onset_t: float, *, hold: bool) -> None:
        reply = self._reply
        if reply is None or reply.finished or self._hold.held is not None:
            return
        self._emit(ev.BargeIn(t=self._clock(), turn=reply.turn, speaker=speaker, onset_t=onset_t))
        self._spawn(self._flush_channel(), "channel-flush")  # quiet now, in every case
        if hold:
            self._hold.hold(reply, speaker)
        else:
            self._interrupt(reply)

    def _interrupt(self, reply: SpokenReply) -> None:
        if self._reply_task is not None:
            self._reply_task.cancel()
        self._hold.drop()
        self._finish_reply(reply, interrupted=True)

    def _settle_hold(self, listener: Listener, held: HeldReply) -> None:
        """Speech over a held reply: too long to be a backchannel, or paused: read what it said."""
        step = next_step(held, listener.detector, self.settings.barge_in)
        if step is BargeInStep.INTERRUPT:
            self._interrupt_held(listener)
        elif step is BargeInStep.READ:
            held.deciding = True
            self._spawn(self._decide_hold(listener, held), f"barge-in-{listener.speaker}")

    async def _decide_hold(self, listener: Listener, held: HeldReply) -> None:
        resume, text = await read_sound(listener.stt, self.persona.language, self.settings.barge_in)
        if self._hold.held is not held:
            return
        if held.ended is None and listener.detector.silence_ms == 0:
            held.deciding = False  # talking again: decide at the next pause
        elif not resume:
            self._interrupt_held(listener)
        else:
            self._emit(ev.BargeInSettled(t=self._clock(), turn=held.reply.turn, speaker=held.speaker, text=text,
                                         resumed=True))
            stream = listener.drop_utterance()
            self._hold.resume()
            if stream is not None:
                await stream.aclose()

    def _interrupt_held(self, listener: Listener) -> None:
        held = self._hold.held
        if held is None:
            return
        self._emit(ev.BargeInSettled(t=self._clock(), turn=held.reply.turn, speaker=held.speaker, text="", resumed=False))
        self._interrupt(held.reply)
        if held.ended is not None:
            self._turn_ended(listener, *held.ended)
