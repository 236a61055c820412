"""The realtime package uses the agent core only: never a channel adapter or the composition root."""

from __future__ import annotations

import ast
from pathlib import Path

REALTIME = Path(__file__).resolve().parents[2] / "realtime"
FORBIDDEN = ("telephony", "bots", "parley", "modal_services")


def test_realtime_imports_agent_core_only():
    for module in REALTIME.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{module.name} imports {name}"
        assert len(module.read_text().splitlines()) <= 400, f"{module.name}: one concept per module"
