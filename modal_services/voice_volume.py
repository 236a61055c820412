"""Cloned voices on a Modal Volume, shared by every TTS container.

Apart from the weights Volume: Modal only reloads a Volume that has no open files, and the
weights stay open while a container runs. A clip stored here is committed at once; the other
containers see it after their next reload, which a background thread does every `refresh_s`
(never on the event loop: a reload is a network round trip, and the voice list is read on
every synthesis request).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Protocol

from modal_services.engines.voice_library import VoiceLibrary

log = logging.getLogger(__name__)


class SyncedVolume(Protocol):  # what we use of modal.Volume inside a container
    def commit(self) -> None: ...
    def reload(self) -> None: ...


class VolumeVoiceLibrary(VoiceLibrary):
    def __init__(self, directory: str | Path, volume: SyncedVolume, *, refresh_s: float = 30.0) -> None:
        super().__init__(directory)
        self.volume, self.refresh_s = volume, refresh_s
        self._stop = threading.Event()
        threading.Thread(target=self._refresh, daemon=True, name="parley-voices-reload").start()

    def store(self, name: str, wav_bytes: bytes) -> Path:
        path = super().store(name, wav_bytes)
        self.volume.commit()  # runs in the TTS adapter's worker thread, not on the event loop
        return path

    def _refresh(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                self.volume.reload()
            except Exception as exc:  # a clip is open (being read): next time
                log.debug("voices volume not reloaded: %s", exc)

    def close(self) -> None:
        self._stop.set()
