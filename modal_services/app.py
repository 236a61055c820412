"""The deploy target: `modal deploy -m modal_services.app` (what `parley deploy` runs).

Importing the class modules registers them on the one App; each class still scales on its own.
"""

from __future__ import annotations

from modal_services import llm, orchestrator, postcall, stt, tts, weights
from modal_services.common import app
from modal_services.weights import download_weights  # `modal run -m modal_services.app::download_weights`

__all__ = ["app", "download_weights", "llm", "orchestrator", "postcall", "stt", "tts", "weights"]
