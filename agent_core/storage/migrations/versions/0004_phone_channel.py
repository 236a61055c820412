"""Phone calls are the `phone` channel, beside `discord` and `web` (they were `twilio`).

Recordings stored before this under `<recordings>/twilio/` belong in `<recordings>/phone/`
(the README's upgrade note says so; files are not the database's to move).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE conversations SET channel = 'phone' WHERE channel = 'twilio'")


def downgrade() -> None:
    op.execute("UPDATE conversations SET channel = 'twilio' WHERE channel = 'phone'")
