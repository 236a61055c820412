from __future__ import annotations

import asyncio
import re

import pytest

from agent_core.providers import Providers, build_providers
from agent_core.settings import Settings


def words(text: str) -> str:
    """Lower case, no punctuation: transcripts are compared by their words."""
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text.lower()).split())


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("parley-data"))


@pytest.fixture(scope="session")
def providers(settings) -> Providers:
    """The real embedded models, loaded once for the whole test run."""
    built = build_providers(settings)
    asyncio.run(built.load())
    return built
