"""Read back, offline, what a Modal class declares: what `modal deploy` would send for it.

modal 1.6.4 keeps the GPU, Volumes and Secrets on the class service function's `_spec`, the
autoscaler and concurrency settings in its loader's closure, and the web endpoint's settings on
the method's partial function. All private: pinned by `modal==1.6.4` in pyproject.toml, and these
tests are where a Modal upgrade would show what moved.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from contextlib import contextmanager
from dataclasses import dataclass

from modal._partial_function import _find_partial_methods_for_user_cls, _PartialFunctionFlags
from modal._utils.async_utils import synchronizer
from modal_proto import api_pb2

# Every module that reads DeploySettings at import (the engines do not).
MODAL_MODULES = [
    "modal_services.common",
    "modal_services.images",
    "modal_services.weights",
    "modal_services.stt",
    "modal_services.tts",
    "modal_services.llm",
    "modal_services.orchestrator",
    "modal_services.app",
]


@dataclass
class Declared:
    gpu: str | None
    cpu: float | None
    memory: int | None
    regions: list[str]
    volumes: dict[str, str]  # mount path -> Volume name
    secrets: list[str]  # names of the named Secrets
    env: list[str]  # keys of the env= dict (Modal turns it into an anonymous Secret)
    min_containers: int
    max_containers: int
    buffer_containers: int
    scaledown_window: int
    timeout: int
    startup_timeout: int
    max_inputs: int
    target_inputs: int
    memory_snapshot: bool
    experimental_options: dict[str, str]
    pre_snapshot_methods: set[str]
    post_snapshot_methods: set[str]
    web_type: str  # WEBHOOK_TYPE_ASGI_APP or WEBHOOK_TYPE_WEB_SERVER
    requires_proxy_auth: bool
    web_port: int


def declared(modal_cls) -> Declared:
    cls = synchronizer._translate_in(modal_cls)
    service = cls._class_service_function
    spec = service._spec
    load = inspect.getclosurevars(service._load).nonlocals
    autoscaler = load["autoscaler_settings"]
    named = [s for s in spec.secrets if s._name]
    anonymous = [s for s in spec.secrets if not s._name]
    user_cls = cls._user_cls
    webhook = cls._method_partials["web"].params.webhook_config
    return Declared(
        gpu=spec.gpus,
        cpu=spec.cpu,
        memory=spec.memory,
        regions=list(spec.scheduler_placement.regions) if spec.scheduler_placement else [],
        volumes={path: volume._name for path, volume in spec.volumes.items()},
        secrets=[s._name for s in named],
        env=[key for s in anonymous for key in _dict_secret_keys(s)],
        min_containers=autoscaler.min_containers,
        max_containers=autoscaler.max_containers,
        buffer_containers=autoscaler.buffer_containers,
        scaledown_window=autoscaler.scaledown_window,
        timeout=load["timeout"],
        startup_timeout=load["startup_timeout"],
        max_inputs=load["max_concurrent_inputs"],
        target_inputs=load["target_concurrent_inputs_int"],
        memory_snapshot=load["enable_memory_snapshot"],
        experimental_options=dict(load["experimental_options"]),
        pre_snapshot_methods=set(_find_partial_methods_for_user_cls(user_cls, _PartialFunctionFlags.ENTER_PRE_SNAPSHOT)),
        post_snapshot_methods=set(
            _find_partial_methods_for_user_cls(user_cls, _PartialFunctionFlags.ENTER_POST_SNAPSHOT)
        ),
        web_type=api_pb2.WebhookType.Name(webhook.type),
        requires_proxy_auth=webhook.requires_proxy_auth,
        web_port=webhook.web_server_port,
    )


def _dict_secret_keys(secret) -> list[str]:
    # Secret.from_dict's repr lists its keys (never values): "Secret.from_dict([KEY, ...])".
    text = repr(secret)
    return [key.strip() for key in text[text.index("[") + 1 : text.rindex("]")].split(",") if key.strip()]


@contextmanager
def fresh_modal_app(monkeypatch, **env: str):
    """Import modal_services.app anew with these PARLEY_MODAL_* variables (and no others)."""
    import os

    for key in list(os.environ):
        if key.startswith("PARLEY_MODAL_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    package = importlib.import_module("modal_services")
    saved = {name: sys.modules.pop(name) for name in MODAL_MODULES if name in sys.modules}
    # `from modal_services import stt` reuses the package attribute when there is one.
    saved_attributes = {name: vars(package).pop(name.rpartition(".")[2], None) for name in MODAL_MODULES}
    try:
        yield importlib.import_module("modal_services.app")
    finally:
        for name in MODAL_MODULES:
            sys.modules.pop(name, None)
            vars(package).pop(name.rpartition(".")[2], None)
        sys.modules.update(saved)
        for name, module in saved_attributes.items():
            if module is not None:
                setattr(package, name.rpartition(".")[2], module)
