"""The transport copies' retention (PRF-4): the run log records what a run may redact of the outgoing
stream and what it redacted; ``net_outbound``'s UPDATE guard is narrowed to a run's redaction, and
``net_inbox`` gets a guard on its key and content (only a run's redaction of a decided row changes them).

Revision ID: 0014_net_transport
Revises: 0011_net_retention
Branch: net

Frozen copy of the two columns added to juki.net.retention_tables.net_retention_runs as of this revision
(tests/contract/test_net_retention.py and tests/contract/test_store_schema.py check that migrating to the
heads yields exactly those tables).  The guard statements come from
``retention_tables.net_transport_guard_ddl``; if that function changes, freeze the old statements here.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from juki.net.retention_tables import drop_net_transport_guard_ddl, net_transport_guard_ddl

revision = "0014_net_transport"
down_revision = "0011_net_retention"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("net_retention_runs", sa.Column("outbound_through", sa.BigInteger(), nullable=True))
    op.add_column("net_retention_runs", sa.Column("transport", _json(), nullable=True))
    for stmt in net_transport_guard_ddl(op.get_bind().dialect.name):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in drop_net_transport_guard_ddl(op.get_bind().dialect.name):
        op.execute(stmt)
    op.drop_column("net_retention_runs", "transport")
    op.drop_column("net_retention_runs", "outbound_through")
