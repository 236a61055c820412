"""The reference-clip library: shared voices at the top, each namespace's in its own folder."""

from __future__ import annotations

import io
import wave

import pytest

from modal_services.engines.voice_library import VoiceLibrary


def clip(seconds: float = 4.0) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000), w.writeframes(b"\0\0" * int(16000 * seconds))
    return out.getvalue()


def test_namespaced_voices_live_in_their_namespaces_folder(tmp_path):
    library = VoiceLibrary(tmp_path)
    library.store("narrator", clip())
    library.store("guild-1/narrator", clip(5))
    library.store("guild-2/narrator", clip(6))
    assert library.names() == ["narrator", "guild-1/narrator", "guild-2/narrator"]
    assert library.path("guild-1/narrator") == tmp_path / "guild-1" / "narrator.wav"
    assert library.path("guild-2/narrator").read_bytes() == clip(6)
    assert library.path("narrator").read_bytes() == clip()
    with pytest.raises(KeyError):
        library.path("guild-3/narrator")


@pytest.mark.parametrize("name", ["../narrator", "guild-1/../narrator", "a/b/c", "/narrator", "guild-1/", "x y"])
def test_names_that_could_leave_the_library_are_refused(tmp_path, name):
    library = VoiceLibrary(tmp_path / "voices")
    with pytest.raises(ValueError):
        library.store(name, clip())
    with pytest.raises(KeyError):
        library.path(name)
    assert not (tmp_path / "voices").exists() and not (tmp_path / "narrator.wav").exists()


def test_clips_outside_3_to_30_s_are_refused(tmp_path):
    with pytest.raises(ValueError, match="3-30 s"):
        VoiceLibrary(tmp_path).store("guild-1/short", clip(1))
    assert VoiceLibrary(tmp_path).names() == []
