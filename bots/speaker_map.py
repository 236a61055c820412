"""Who is speaking on which SSRC, in one voice channel.

Discord announces each member's SSRC once (op 5 SPEAKING) during the voice
handshake, long before a conversation starts listening, so the voice client
records the map from the moment it exists. A sender named by their DAVE key
(see bots/voice_packet.py) is recorded too. Touched on the event loop only.
"""

from __future__ import annotations

from collections.abc import Callable


class SpeakerMap:
    def __init__(self) -> None:
        self._users: dict[int, int] = {}
        self.channel_id: int | None = None  # the channel these SSRCs belong to
        self._listeners: list[Callable[[int], None]] = []

    def user_for(self, ssrc: int) -> int | None:
        return self._users.get(ssrc)

    def on_change(self, listener: Callable[[int], None]) -> None:
        """`listener(ssrc)` runs when an SSRC's owner changes or goes: its decoder state is stale."""
        self._listeners.append(listener)

    def map(self, ssrc: int, user_id: int) -> None:
        """op 5 SPEAKING, or a frame that authenticated under this user's DAVE key."""
        if self._users.get(ssrc) == user_id:
            return
        for stale in [s for s, u in self._users.items() if u == user_id and s != ssrc]:
            self._drop(stale)  # a user has one audio SSRC; a new one replaces the old
        self._users[ssrc] = user_id
        self._changed(ssrc)

    def forget_user(self, user_id: int) -> None:
        """op 13 CLIENT_DISCONNECT: the user left; their SSRC is free again."""
        for ssrc in [s for s, u in self._users.items() if u == user_id]:
            self._drop(ssrc)

    def enter_channel(self, channel_id: int | None) -> None:
        """A new voice session: SSRCs from another channel mean nothing here."""
        if channel_id != self.channel_id:
            for ssrc in list(self._users):
                self._drop(ssrc)
            self.channel_id = channel_id

    def _drop(self, ssrc: int) -> None:
        del self._users[ssrc]
        self._changed(ssrc)

    def _changed(self, ssrc: int) -> None:
        for listener in self._listeners:
            listener(ssrc)

    def __len__(self) -> int:
        return len(self._users)

    def as_dict(self) -> dict[int, int]:
        return dict(self._users)
