"""Adapters: everything that talks to the outside world (database, key files, peers, PDF, clock).

* :mod:`juki.adapters.keys` -- the key ring that encrypts the 個人番号 at rest (AES-GCM) and makes its
  blind index (HMAC-SHA256); the keys live in a file outside the database.
* :mod:`juki.adapters.db` -- SQLAlchemy Core tables, Alembic migrations, the :class:`~juki.adapters.db.store.Store`
  used by the services layer, and the bulk loader.
"""
