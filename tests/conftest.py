from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_core.audio import AudioFrame, read_wav
from tests.postgres_server import PostgresServer

DATA = Path(__file__).parent / "data"
# jfk.wav: J. F. Kennedy, 1961 inaugural address (public domain), 16 kHz mono, 11 s.
JFK_TRANSCRIPT = "And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


@pytest.fixture(scope="session")
def jfk() -> AudioFrame:
    return read_wav(DATA / "jfk.wav")


@pytest.fixture(scope="session")
def jfk_opening(jfk: AudioFrame) -> AudioFrame:
    """0.0-2.6 s: "And so, my fellow Americans" - one utterance, then a pause in the recording."""
    return AudioFrame(jfk.pcm[: int(2.6 * 16000) * 2], 16000)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on SQLite (a file) and on a real PostgreSQL server, one test each."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{(tmp_path / 'parley.db').as_posix()}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return await server.new_database()
