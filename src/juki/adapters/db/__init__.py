"""Storage: SQLAlchemy Core on SQLite (WAL, embedded default) and PostgreSQL (psycopg 3).

Typical use::

    from juki.adapters.db import Store, make_engine, default_database_url, upgrade
    from juki.adapters.keys import Keyring, default_key_file

    url = default_database_url()
    upgrade(url)
    store = Store(make_engine(url), Keyring.load_or_create(default_key_file(url)))
    with store.transaction() as tx:
        ...
"""

from .bulk import baseline_copy, baseline_rows, bulk_load
from .engine import default_database_url, make_engine
from .migrate import current_revision, head_revision, upgrade
from .store import (
    Counts,
    DecisionRow,
    DuplicateRequest,
    EventRow,
    Reads,
    RequestRow,
    SearchCriteria,
    SearchHit,
    Store,
    Tx,
)

__all__ = [
    "Counts",
    "DecisionRow",
    "DuplicateRequest",
    "EventRow",
    "Reads",
    "RequestRow",
    "SearchCriteria",
    "SearchHit",
    "Store",
    "Tx",
    "baseline_copy",
    "baseline_rows",
    "bulk_load",
    "current_revision",
    "default_database_url",
    "head_revision",
    "make_engine",
    "upgrade",
]
