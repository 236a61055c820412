"""Which database errors the record writer waits out, and which fail the write at once."""

import sqlite3

from sqlalchemy.exc import IntegrityError, OperationalError

from agent_core.storage.writer import is_outage


def operational(message: str) -> OperationalError:
    return OperationalError("INSERT ...", {}, sqlite3.OperationalError(message))


def test_an_unreachable_or_busy_database_is_waited_out():
    assert is_outage(ConnectionRefusedError(111, "Connect call failed"))  # PostgreSQL down (asyncpg)
    assert is_outage(operational("database is locked"))
    assert is_outage(TimeoutError())


def test_a_write_the_database_refuses_is_not_retried_forever():
    assert not is_outage(operational("no such column: nope"))
    assert not is_outage(IntegrityError("INSERT ...", {}, sqlite3.IntegrityError("UNIQUE constraint failed")))
    assert not is_outage(TypeError("Object of type object is not JSON serializable"))
