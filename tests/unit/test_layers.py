"""Dependencies point one way: the channel adapters use the agent core, never each other.

agent_core imports no adapter, no Modal module and not the composition root (`parley`); each
adapter (`telephony`, `bots`, `realtime`) imports agent_core only, never another adapter, the
composition root or Modal. Checked on the source, so an import hidden in a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = ("telephony", "bots", "realtime")
FORBIDDEN = {
    "agent_core": {*ADAPTERS, "parley", "modal_services", "modal"},
    **{adapter: {*ADAPTERS, "parley", "modal_services", "modal"} - {adapter} for adapter in ADAPTERS},
}


def imported_packages(path: Path) -> set[str]:
    packages = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            packages |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            packages.add(node.module.split(".")[0])
    return packages


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_only_what_its_layer_allows(package):
    broken = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert not {path: names for path, names in broken.items() if names}


@pytest.mark.parametrize("package", ["agent_core", *ADAPTERS, "parley", "modal_services"])
def test_modules_stay_small(package):
    """One concept per module: none grows past ~400 lines."""
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / package).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 420}
    assert not long


def test_the_checker_sees_a_forbidden_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from telephony.phone import Phone\n")
    assert "telephony" in imported_packages(module)
