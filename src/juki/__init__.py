"""juki: 住民基本台帳システム, an open-source Basic Resident Register for Japanese municipalities.

Layers (imports point downwards only):

* ``juki.domain``   pure Python, standard library only: identifiers, the 住民票, 世帯, 異動 and their rules.
* ``juki.services`` use cases; each 届出 is one transaction (events, current state, outbox).
* ``juki.adapters`` storage (SQLAlchemy 2 on SQLite or PostgreSQL), keys, synthetic data.
* ``juki.api`` / ``juki.cli`` entrypoints that translate requests and errors; no logic.
"""

__version__ = "0.1.0"
