"""The table of 広域交付 at the 住所地 (住基法12条の4, REG-CERT, NET-11): what it sent to which 交付地.

Its own :data:`metadata` and migration branch (``0013_wide_area``, branch label ``widearea``, off ``0001``);
the migration is a frozen copy of this module and ``tests/contract/test_wide_area_schema.py`` checks that
they agree.  Every node has the table; a municipality node uses it when it answers as the 住所地.

``wide_area_sends`` -- insert-only (the database refuses UPDATE, DELETE and TRUNCATE): one row per
広域交付住民票情報 sent (広域交付住民票情報の送信), written in the transaction of the audit entry of the read:

* ``answer_ref`` -- the 住所地's reference of the send (``W`` + 11 characters), printed nowhere, named in
  the 交付地's issuance log; the persons of the answer are ``<answer_ref>-<n>`` there;
* ``issuing_lg_code``, ``request_id`` -- the 交付地 and its request id, unique together: a retried request
  gets the same answer and is recorded once; ``request_sha256`` refuses another request under that id;
* ``person_ids`` -- the 宛名番号 of the persons sent, in print order (``<answer_ref>-1`` is the first);
* ``requester`` -- who asked, as the 交付地 stated them (氏名, 生年月日, 住所, identity documents seen, the
  clerk), with the 宛名番号 the 住所地 found them under and their relation to each person;
* ``answer_ciphertext`` -- the answer as sent (no 本籍, 住民票コード or 個人番号 in it), AES-GCM encrypted with
  the register's key ring (SEC-5), so that a retried request gets exactly the same answer;
  ``answer_sha256`` -- its digest.
"""

from __future__ import annotations

import sqlalchemy as sa

from juki.adapters.db.schema import Json, UTCDateTime
from juki.adapters.db.schema import metadata as register_metadata

metadata = sa.MetaData(naming_convention=register_metadata.naming_convention)

LG = sa.String(6)  # 地方公共団体コード

wide_area_sends = sa.Table(
    "wide_area_sends",
    metadata,
    sa.Column("answer_ref", sa.String(12), primary_key=True),
    sa.Column("issuing_lg_code", LG, nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("request_sha256", sa.String(64), nullable=False),
    sa.Column("operator", sa.String(64), nullable=False),  # the 交付地's clerk, as stated
    sa.Column("person_ids", Json(), nullable=False),  # 宛名番号, in print order
    sa.Column("requester", Json(), nullable=False),  # as stated by the 交付地 (+ the 宛名番号 found, relations)
    sa.Column("whole_household", sa.Boolean(), nullable=False),
    sa.Column("items", Json(), nullable=False),  # the optional items sent
    sa.Column("answer_ciphertext", sa.LargeBinary(), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("answer_sha256", sa.String(64), nullable=False),
    sa.Column("sent_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("issuing_lg_code", "request_id"),
    sa.Index(None, "sent_at"),
)

TABLES: tuple[str, ...] = tuple(metadata.tables)
APPEND_ONLY: tuple[str, ...] = ("wide_area_sends",)
