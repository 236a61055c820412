"""One-use values (a stream token's nonce) checked in the database, so every process agrees.

A token redeemed in one container must be refused in every other: an in-process set cannot
know, a row with the nonce as its primary key can. Expired rows are swept as new ones arrive.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from agent_core.storage.database import Database
from agent_core.storage.tables import UsedNonceRow


class UsedNonces:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def first_use(self, nonce: str, expires_at: float) -> bool:
        """True the first time `nonce` is offered before it expires; False on any later try."""
        now = datetime.now(UTC)
        try:
            async with self.db.transaction() as session:
                await session.execute(delete(UsedNonceRow).where(UsedNonceRow.expires_at < now))
                session.add(UsedNonceRow(nonce=nonce, expires_at=datetime.fromtimestamp(expires_at, UTC)))
        except IntegrityError:
            return False
        return True
