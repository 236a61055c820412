"""Nothing in the installed environment may be GPL: Parley is Apache-2.0 and ships as a whole.

LGPL is fine (dynamic linking, as Python imports are). A dual licence with a non-GPL choice
(e.g. "MIT OR GPL-2.0") is fine too. Piper (GPL-3.0) is opt-in: `parley[piper]`.
"""

from __future__ import annotations

import re
from importlib.metadata import Distribution, distributions

import pytest

# "GPL", "GPLv3", "GPL-3.0-or-later", "AGPL-3.0", "GNU General Public License", but not LGPL.
_GPL_WORDS = re.compile(r"(?<![L\w-])A?GPL(?:v?\d|-\d|\b)|GNU (?:Affero )?General Public License", re.IGNORECASE)
_LESSER = re.compile(r"LGPL|Lesser|Library General Public", re.IGNORECASE)


def is_gpl_term(term: str) -> bool:
    """One licence (not an OR of several): GPL or AGPL, but not LGPL."""
    return bool(_GPL_WORDS.search(term)) and not _LESSER.search(term)


def is_gpl_expression(expression: str) -> bool:
    """GPL when every alternative of an OR is GPL (an AND with GPL in it is GPL too)."""
    alternatives = re.split(r"\s+OR\s+|\s*/\s*|\s+or\s+", expression.strip("() "))
    return all(any(is_gpl_term(part) for part in re.split(r"\s+AND\s+", alt)) for alt in alternatives if alt)


def licence_of(dist: Distribution) -> tuple[bool, str]:
    """(is GPL, what the metadata says) from License-Expression, else the classifiers, else License."""
    meta = dist.metadata
    if meta.get("License-Expression"):
        return is_gpl_expression(meta["License-Expression"]), meta["License-Expression"]
    classifiers = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    classifiers = [c for c in classifiers if c != "OSI Approved"]
    if classifiers:
        # Several licence classifiers mean a choice between them.
        return all(is_gpl_term(c) for c in classifiers), " | ".join(classifiers)
    text = (meta.get("License") or "").strip()
    first_line = text.splitlines()[0] if text else ""
    if len(text) > 200:  # the whole licence text pasted in: its title says what it is
        return is_gpl_term(first_line) or is_gpl_term(text[:300]), first_line
    return (is_gpl_expression(text) if text else False), text


@pytest.mark.parametrize(
    ("declared", "gpl"),
    [
        ("GPL-3.0-or-later", True), ("GPLv3", True), ("AGPL-3.0-only", True),
        ("GNU General Public License v3 (GPLv3)", True), ("GNU GPL v2", True),
        ("LGPL-2.1-or-later", False), ("GNU Lesser General Public License v3 (LGPLv3)", False),
        ("MIT OR GPL-2.0-or-later", False), ("Apache-2.0", False), ("BSD-3-Clause", False),
        ("MIT AND GPL-3.0-only", True), ("MPL-2.0", False),
    ],
)
def test_the_licence_reader_tells_gpl_from_the_rest(declared, gpl):
    assert is_gpl_expression(declared) is gpl


def test_no_installed_distribution_is_gpl():
    offenders = []
    for dist in distributions():
        gpl, declared = licence_of(dist)
        if gpl:
            offenders.append(f"{dist.metadata['Name']} {dist.version}: {declared}")
    assert not offenders, "GPL in the default environment:\n" + "\n".join(sorted(set(offenders)))
