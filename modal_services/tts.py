"""Chatterbox TTS as a Modal GPU class: image + `@app.cls` + delegation to engines/chatterbox_tts.py.

Cloned voices live on their own Volume (voice_volume.py): committed after each clone and reloaded
in the background, so every container, now and after a redeploy, can speak with them.
"""

from __future__ import annotations

import modal

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
        from modal_services.engines.speech_adapters import ChatterboxSpeech
        from modal_services.service import create_tts_app

        return create_tts_app(ChatterboxSpeech(self.engine))
