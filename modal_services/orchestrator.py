"""The orchestrator (`parley serve` on Modal): Twilio webhooks and Media Streams, on CPU.

It reaches STT, TTS and the LLM over their web endpoints with the proxy auth token pair from the
`parley-orchestrator` secret. Its own endpoint has no proxy auth, since Twilio cannot send one:
every webhook's X-Twilio-Signature and every stream's one-use token are checked instead
(telephony/routes.py), keyed by TWILIO_AUTH_TOKEN from the same secret.

No Discord bot here: containers come and go with load, and a bot must run exactly once
(`parley discord` on any always-on machine).
"""

from __future__ import annotations

import logging
import os

import modal

from agent_core.deploy_settings import forwarded_env
from modal_services.common import RECORDINGS_DIR, app, recordings_volume, settings
from modal_services.images import orchestrator_image

ORCHESTRATOR = settings.orchestrator
log = logging.getLogger(__name__)


def fill_service_settings(environ: dict[str, str] | os._Environ[str], urls: dict[str, str | None]) -> None:
    """Point the agent core at the sibling classes unless the secret already says otherwise."""
    from modal_services.urls import agent_core_env

    for key, value in agent_core_env(urls, settings.llm.model).items():
        environ.setdefault(key, value)


def orchestrator_env() -> dict[str, str | None]:  # Modal's env type
    """Recordings on the Volume; post-call jobs on a GPU function spawned per call (modal_services/postcall.py)."""
    return {**forwarded_env(), "PARLEY_RECORDING__DIRECTORY": RECORDINGS_DIR, "PARLEY_JOBS__RUNNER": "modal"}


def warn_if_records_are_ephemeral(config: object) -> None:
    if getattr(config, "database_url", None) is None:
        log.error("!!! PARLEY_DATABASE_URL is not set: call records, jobs and stream-token checks live in SQLite "
                  "inside this container and are lost when it stops. Put a postgresql+asyncpg:// URL in the "
                  "%r secret. !!!", settings.orchestrator_secret)


@app.cls(
    image=orchestrator_image(),
    secrets=[modal.Secret.from_name(settings.orchestrator_secret)],
    env=orchestrator_env(),
    volumes={RECORDINGS_DIR: recordings_volume},
    **settings.options(ORCHESTRATOR),
)
@modal.concurrent(**ORCHESTRATOR.concurrency())
class Orchestrator:
    @modal.enter(snap=ORCHESTRATOR.memory_snapshot)
    def import_libraries(self) -> None:
        import parley.server  # noqa: F401  FastAPI, Twilio, SQLAlchemy, onnxruntime: seconds of imports

    @modal.asgi_app()  # public on purpose: see the module docstring
    def web(self):
        from agent_core.providers import build_providers
        from agent_core.settings import Settings
        from modal_services.urls import lookup_web_urls
        from parley.server import create_app

        try:
            fill_service_settings(os.environ, lookup_web_urls(settings.app_name))
        except Exception:  # e.g. under `modal serve`: nothing deployed to look up
            log.warning("could not look up the sibling services' URLs; using the secret's settings only", exc_info=True)
        from modal_services.postcall import spawn_post_call_jobs

        config = Settings()
        warn_if_records_are_ephemeral(config)
        return create_app(config, build_providers(config), dispatch_jobs=spawn_post_call_jobs)
