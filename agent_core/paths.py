"""Where Parley finds its config files and keeps its data."""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    """config/ next to the packages (source checkout or installed wheel), or $PARLEY_CONFIG_DIR."""
    override = os.environ.get("PARLEY_CONFIG_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "config"
