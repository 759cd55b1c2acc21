"""Contract: migrations 0004_certificates + 0009_cert_token + 0017_mail_requests + 0018_cert_copy_purge build exactly juki.issuance.tables on both engines; the database
refuses UPDATE/DELETE on the issuance log and the seal tables and DELETE on cards, kiosks, challenges and
kiosk transactions; no table of the branch has anything to do with the 個人番号 (REG-LINK5)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from juki.adapters.db.engine import make_engine
from juki.adapters.db.migrate import current_revision, downgrade, upgrade
from juki.issuance import tables

NOW = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


def test_migration_creates_exactly_the_issuance_tables(database_url: str) -> None:
    upgrade(database_url)
    assert "0018_cert_copy_purge" in (current_revision(database_url) or "").split(",")  # 0004, 0009, 0017, 0018
    engine = make_engine(database_url)
    try:
        assert set(tables.TABLES) <= set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), tables.metadata)
        ours = [d for d in diff if not (d[0] == "remove_table" and d[1].name not in tables.TABLES)]
        ours = [d for d in ours if not (d[0] == "remove_index" and d[1].table.name not in tables.TABLES)]
        assert ours == [], f"migration 0004_certificates and issuance/tables.py disagree: {ours}"
    finally:
        engine.dispose()


def test_no_column_of_the_branch_holds_or_joins_to_the_individual_number() -> None:
    """REG-LINK5: 印鑑登録 and the issuance log never link to the 個人番号."""
    for table in tables.metadata.tables.values():
        for column in table.columns:
            assert "number_" not in column.name and "individual" not in column.name, (table.name, column.name)
            for fk in column.foreign_keys:
                assert fk.column.table.name in tables.TABLES, (table.name, column.name, fk.target_fullname)


def test_downgrade_of_the_certificates_branch_keeps_the_other_guards(database_url: str) -> None:
    upgrade(database_url)
    downgrade(database_url, "certificates@0001")
    engine = make_engine(database_url)
    try:
        names = set(sa.inspect(engine).get_table_names())
        assert not set(tables.TABLES) & names and {"events", "staff", "audit_entries"} <= names
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                q = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN ('outbox_no_delete', 'staff_no_delete')"
                assert conn.execute(sa.text(q)).scalar() == 2
            else:
                q = "SELECT count(*) FROM pg_proc WHERE proname IN ('juki_refuse_change', 'juki_refuse_delete')"
                assert conn.execute(sa.text(q)).scalar() == 2
    finally:
        engine.dispose()
    upgrade(database_url)
    # and the access branch can still go down and up with ours in place (separate guard functions)
    downgrade(database_url, "access@0001")
    upgrade(database_url)


def _seed(conn: sa.Connection) -> None:
    conn.execute(tables.certificate_issuances.insert().values(
        certificate_id="C1", kind="resident_copy", layout="household", channel="counter", path="self",
        subject_ids='["0000000001"]', subject_count=1, requester_name="n", requester_relation="self",
        request_detail="{}", items="{}", issued_by="u", terminal="T", issued_at=NOW, issued_on=NOW.date(),
        content_sha256="0" * 64, pdf_sha256="0" * 64))
    conn.execute(tables.certificate_subjects.insert().values(certificate_id="C1", person_id="0000000001", issued_at=NOW))
    conn.execute(tables.resident_cards.insert().values(
        card_id="K1", person_id="0000000001", algorithm="ed25519", public_key="pem", pin_hash="h", status="active",
        issued_by="u", issued_at=NOW, valid_until=NOW.date()))
    conn.execute(tables.kiosks.insert().values(kiosk_id="KS1", name="k", credential_hash="0" * 64,
                                               registered_by="a", registered_at=NOW))
    conn.execute(tables.kiosk_challenges.insert().values(challenge="1" * 64, kiosk_id="KS1", issued_at=NOW, expires_at=NOW))
    conn.execute(tables.kiosk_transactions.insert().values(
        transaction_id="X1", kiosk_id="KS1", card_id="K1", person_id="0000000001", token_hash="2" * 64,
        started_at=NOW, expires_at=NOW))
    conn.execute(tables.seal_registrations.insert().values(
        registration_number=1, person_id="0000000001", registered_name="n", imprint_png=b"png", imprint_sha256="3" * 64,
        imprint_size_mm=15, card_number="1234", method="immediate", identity="{}", entered_by="u", terminal="T",
        entered_at=NOW, entered_on=NOW.date()))
    conn.execute(tables.seal_confirmations.insert().values(registration_number=1, confirmed_by="v", terminal="T",
                                                           confirmed_at=NOW, confirmed_on=NOW.date()))
    conn.execute(tables.seal_abolitions.insert().values(registration_number=1, reason="request", abolished_by="u",
                                                        terminal="T", abolished_at=NOW, effective_on=NOW.date()))
    conn.execute(tables.certificate_copies.insert().values(certificate_id="C1", pdf_ciphertext=b"x", key_id="k1",
                                                           stored_at=NOW))
    conn.execute(tables.certificate_copy_purges.insert().values(at=NOW, cutoff=NOW, actor="system:juki", copies=0))
    conn.execute(tables.mail_requests.insert().values(
        request_id="M1", received_on=NOW.date(), received_at=NOW, entered_by="u", terminal="T",
        subject_ids='["0000000001"]', request="{}", envelope_addressee="n", envelope_address="a",
        fee_method="postal_order", fee_yen=300))
    conn.execute(tables.mail_request_outcomes.insert().values(request_id="M1", outcome="issued", certificate_id="C1",
                                                              decided_by="u", terminal="T", decided_at=NOW))


def test_a_mail_request_has_one_outcome_and_an_issued_one_names_its_certificate(database_url: str) -> None:
    """Two batches racing for one queued 郵送請求: the second outcome is refused by the database."""
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            _seed(conn)
        again = tables.mail_request_outcomes.insert().values(request_id="M1", outcome="returned", decided_by="v",
                                                             terminal="T", decided_at=NOW)
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(again)
        with engine.begin() as conn:
            conn.execute(tables.mail_requests.insert().values(
                request_id="M2", received_on=NOW.date(), received_at=NOW, entered_by="u", terminal="T",
                subject_ids="[]", request="{}", envelope_addressee="n", envelope_address="a", fee_method="exempt",
                fee_yen=0))
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:  # issued, but no certificate named
            conn.execute(tables.mail_request_outcomes.insert().values(request_id="M2", outcome="issued",
                                                                      decided_by="u", terminal="T", decided_at=NOW))
    finally:
        engine.dispose()


def test_database_guards(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            _seed(conn)
        for name in tables.APPEND_ONLY_TABLES:
            t = tables.metadata.tables[name]
            col = next(c for c in t.columns if not c.primary_key)
            for stmt in (sa.update(t).values({col.name: col}), sa.delete(t)):
                with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
                    conn.execute(stmt)
        for name in tables.NO_DELETE_TABLES:
            with pytest.raises(sa.exc.DBAPIError, match="never deleted"), engine.begin() as conn:
                conn.execute(sa.delete(tables.metadata.tables[name]))
        if engine.dialect.name == "postgresql":
            for name in (*tables.APPEND_ONLY_TABLES, *tables.NO_DELETE_TABLES):
                with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
                    conn.execute(sa.text(f"TRUNCATE {name} CASCADE"))
        # the mutable state of a card, a challenge and a kiosk transaction is allowed
        with engine.begin() as conn:
            conn.execute(sa.update(tables.resident_cards).values(failed_pins=3, status="locked"))
            conn.execute(sa.update(tables.kiosk_challenges).values(used_at=NOW))
            conn.execute(sa.update(tables.kiosk_transactions).values(ended_at=NOW, end_reason="end"))
    finally:
        engine.dispose()


def test_a_copy_is_deleted_only_by_a_logged_purge_whose_cutoff_it_precedes(database_url: str) -> None:
    """SEC-8: ``certificate_copies`` lets a DELETE through only while a purge's marker exists, and only for a
    copy stored before that purge's cutoff; UPDATE is refused even then."""
    upgrade(database_url)
    engine = make_engine(database_url)
    copies, purges, active = tables.certificate_copies, tables.certificate_copy_purges, tables.certificate_copy_purge_active
    try:
        with engine.begin() as conn:
            _seed(conn)  # copy C1 stored at NOW
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:  # no purge at all
            conn.execute(sa.delete(copies))
        for cutoff in (NOW, NOW - dt.timedelta(days=1)):  # a purge whose cutoff the copy does not precede
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
                pid = conn.execute(purges.insert().values(at=NOW, cutoff=cutoff, actor="a", copies=1)
                                   .returning(purges.c.purge_id)).scalar_one()
                conn.execute(active.insert().values(purge_id=pid))
                conn.execute(sa.delete(copies))
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:  # logged, no marker
            conn.execute(purges.insert().values(at=NOW, cutoff=NOW + dt.timedelta(seconds=1), actor="a", copies=1))
            conn.execute(sa.delete(copies))
        with engine.begin() as conn:
            pid = conn.execute(purges.insert().values(at=NOW, cutoff=NOW + dt.timedelta(seconds=1), actor="a", copies=1)
                               .returning(purges.c.purge_id)).scalar_one()
            conn.execute(active.insert().values(purge_id=pid))
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), conn.begin_nested():
                conn.execute(sa.update(copies).values(key_id="k2"))
            assert conn.execute(sa.delete(copies)).rowcount == 1
            conn.execute(sa.delete(active))
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(copies)).scalar_one() == 0
    finally:
        engine.dispose()
