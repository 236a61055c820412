"""Kyutai STT as a Modal GPU class: image + `@app.cls` + delegation to engines/kyutai_stt.py.

One container holds one batched model state with `stt.max_inputs` slots; Modal's concurrency limit
is the same number, so every WebSocket it lets in finds a free slot.
"""

from __future__ import annotations

import modal

from modal_services.common import WEIGHTS_DIR, app, service_env, settings, weights_volume
from modal_services.images import stt_image

STT = settings.stt


@app.cls(image=stt_image(), volumes={WEIGHTS_DIR: weights_volume}, env=service_env(), **settings.options(STT))
@modal.concurrent(**STT.concurrency())
class SttService:
    @modal.enter(snap=STT.memory_snapshot)
    def import_libraries(self) -> None:
        # Before the snapshot, without a GPU: importing torch and moshi is thousands of file reads
        # that every later cold start then skips.
        import moshi.models  # noqa: F401
        import torch  # noqa: F401

    # Inside the snapshot only when the (alpha) GPU snapshot is on; the engine captures CUDA graphs
    # while loading, which is exactly what that feature still has to prove it restores.
    @modal.enter(snap=STT.gpu_snapshot)
    def load(self) -> None:
        from modal_services.engines import KyutaiSttEngine

        self.engine = KyutaiSttEngine(device="cuda", batch_size=STT.max_inputs)
        self.engine.load()  # kyutai/stt-1b-en_fr from the Volume's hub cache (HF_HOME)

    @modal.asgi_app(requires_proxy_auth=True)  # clients send Modal-Key / Modal-Secret
    def web(self):
        from modal_services.engines.speech_adapters import KyutaiSpeechToText
        from modal_services.service import create_stt_app

        return create_stt_app(KyutaiSpeechToText(self.engine))
