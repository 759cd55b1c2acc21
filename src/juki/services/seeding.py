"""Loading a register in bulk: a synthetic city for demos, tests and benchmarks (移行 path).

The synthetic city streams households; they are loaded in chunks through the store's bulk path, each
chunk one transaction with one 移行 (initial_load) event, so a million residents load in bounded memory.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable

from juki.adapters.db.bulk import bulk_load
from juki.adapters.synthetic import PROFILES, generate_city
from juki.config import Register
from juki.domain.events import Origin, Provenance

CHUNK_PERSONS = 50_000


def _profile(lg_code: str):  # type: ignore[no-untyped-def]
    for profile in PROFILES.values():
        if profile.lg_code == lg_code:
            return profile
    raise LookupError(f"no synthetic profile for municipality {lg_code}")


def seed_city(
    register: Register,
    residents: int,
    seed: int = 0,
    *,
    today: dt.date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Generate and load a synthetic city of ``residents`` persons; returns (persons, households)."""
    today = today or dt.date.today()
    # a second seed adds people after the existing ids (the counters are advanced by each load)
    first_person = register.store.next_id("person")
    first_household = register.store.next_id("household")
    city = generate_city(residents, seed, profile=_profile(register.jurisdiction.lg_code), today=today,
                         first_person_id=first_person, first_household_id=first_household)
    provenance = Provenance(Origin.EX_OFFICIO, "移行（合成データ: juki seed）", today, today, "juki-seed", "CLI")
    loaded_p = loaded_h = 0
    while True:
        chunk = list(itertools.islice(city, CHUNK_PERSONS // 2))
        if not chunk:
            break
        households = [h for h, _ in chunk]
        persons = [p for _, members in chunk for p in members]
        n_p, n_h = bulk_load(register.engine, register.keyring, households, persons, provenance=provenance)
        loaded_p += n_p
        loaded_h += n_h
        if progress:
            progress(loaded_p, residents)
    return loaded_p, loaded_h
