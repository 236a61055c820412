"""Chatterbox TTS as a Modal GPU class: image + `@app.cls` + delegation to engines/chatterbox_tts.py.

Cloned voices live on their own Volume (voice_volume.py): committed after each clone and reloaded
in the background, so every container, now and after a redeploy, can speak with them. Voice
presets and aliases come from PARLEY_MODAL_TTS__VOICE_PRESETS / __VOICE_ALIASES (JSON).
"""

from __future__ import annotations

import modal

from agent_core.deploy_settings import TtsClass
from modal_services.common import VOICES_DIR, WEIGHTS_DIR, app, service_env, settings, voices_volume, weights_volume
from modal_services.images import tts_image

TTS = settings.tts


@app.cls(
    image=tts_image(),
    volumes={WEIGHTS_DIR: weights_volume, VOICES_DIR: voices_volume},
    env=service_env(),
    **settings.options(TTS),
)
@modal.concurrent(**TTS.concurrency())
class TtsService:
    @modal.enter(snap=TTS.memory_snapshot)
    def import_libraries(self) -> None:
        # Before the snapshot, without a GPU: torch, transformers, diffusers and librosa imports.
        import chatterbox.tts  # noqa: F401
        import torch  # noqa: F401

    # See stt.py: inside the snapshot only with the alpha GPU snapshot (the engine starts threads
    # and captures CUDA graphs while loading).
    @modal.enter(snap=TTS.gpu_snapshot)
    def load(self) -> None:
        from modal_services.engines import ChatterboxEngine
        from modal_services.voice_volume import VolumeVoiceLibrary

        self.engine = ChatterboxEngine(
            device="cuda", voices_dir=VOICES_DIR, max_streams=TTS.max_inputs, s3gen_precision=TTS.s3gen_precision
        )
        self.library = VolumeVoiceLibrary(VOICES_DIR, voices_volume)
        self.engine.library = self.library
        self.engine.load()  # ResembleAI/chatterbox from the Volume's hub cache (HF_HOME)

    @modal.exit()
    def close(self) -> None:
        self.library.close()
        self.engine.close()

    @modal.asgi_app(requires_proxy_auth=True)  # clients send Modal-Key / Modal-Secret
    def web(self):
        return tts_web_app(self.engine, TTS)


def tts_web_app(engine, tts: TtsClass):
    """The speech routes over `engine`, with the operator's voice presets and OpenAI voice aliases.

    A preset naming a clip the library lacks, or an alias naming no voice, stops the container
    here with the reason, rather than serving a voice that would not be the one asked for.
    """
    from modal_services.engines.speech_adapters import ChatterboxSpeech
    from modal_services.service import create_services_app

    speech = ChatterboxSpeech(engine, presets=tts.voice_presets)
    return create_services_app(tts=speech, voice_aliases=tts.voice_aliases)
