"""個人番号の生成 (NET-7): a keyed one-way derivation from the 住民票コード, unique through retries,
with a valid check digit; the request/answer messages and their matching."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.jp import in_ as stdnum_in

from juki.domain import identifiers as ids
from juki.domain import numbering as nb
from juki.domain.errors import InvalidInput, RuleViolation

SECRET = bytes(range(32))
OTHER_SECRET = bytes(range(1, 33))

codes = st.text(alphabet="0123456789", min_size=10, max_size=10).map(lambda s: s + ids.juminhyo_code_check_digit(s))


@given(codes, st.integers(min_value=0, max_value=50))
def test_derived_numbers_have_a_valid_check_digit(code, attempt):
    number = nb.derive_individual_number(SECRET, code, attempt)
    assert len(number) == 12 and number.isdigit()
    assert stdnum_in.is_valid(number)
    assert ids.individual_number_problem(number) is None


@given(codes)
def test_derivation_is_deterministic_and_depends_on_secret_and_attempt(code):
    first = nb.derive_individual_number(SECRET, code, 0)
    assert nb.derive_individual_number(SECRET, code, 0) == first
    assert nb.derive_individual_number(SECRET, code, 1) != first
    assert nb.derive_individual_number(OTHER_SECRET, code, 0) != first


def test_numbers_carry_no_trace_of_the_code():
    """Not reversible (番号法8条2項): neighbouring codes give unrelated numbers (about 9 of 11 digits
    differ, as for random numbers), and no number contains its code's digits in place."""
    rng = random.Random(7)
    differing = []
    for _ in range(500):
        code = ids.new_juminhyo_code(rng)
        first10 = f"{(int(code[:10]) + 1) % 10**10:010d}"
        neighbour = first10 + ids.juminhyo_code_check_digit(first10)
        a = nb.derive_individual_number(SECRET, code, 0)
        b = nb.derive_individual_number(SECRET, neighbour, 0)
        differing.append(sum(x != y for x, y in zip(a[:11], b[:11], strict=True)))
        assert code[:10] not in a
    assert 9.0 < sum(differing) / len(differing) < 10.8


def test_distinct_codes_give_distinct_numbers_in_a_large_sample():
    rng = random.Random(11)
    sample = {ids.new_juminhyo_code(rng) for _ in range(20000)}
    numbers = {nb.derive_individual_number(SECRET, c, 0) for c in sample}
    assert len(numbers) == len(sample)


def test_allocate_skips_numbers_already_given():
    code = "24727059608"
    first = nb.derive_individual_number(SECRET, code, 0)
    second = nb.derive_individual_number(SECRET, code, 1)
    assert nb.allocate(SECRET, code, lambda n: False) == nb.Allocation(first, 0)
    assert nb.allocate(SECRET, code, lambda n: n == first) == nb.Allocation(second, 1)
    assert nb.allocate(SECRET, code, lambda n: False, start=1).attempt == 1


def test_short_secret_and_bad_code_are_refused():
    with pytest.raises(ValueError):
        nb.derive_individual_number(b"short", "24727059608", 0)
    with pytest.raises(InvalidInput) as e:
        nb.derive_individual_number(SECRET, "24727059609", 0)
    assert e.value.problems[0].rule == "ID-JUMINHYO-CODE/check-digit"


def _request(**kw):
    base = dict(kind=nb.RequestKind.GENERATE, request_ref="011002-0000000001", lg_code="011002",
                juminhyo_code="24727059608")
    return nb.GenerationRequest(**{**base, **kw})


def test_request_checks_name_every_bad_field():
    assert _request().problems() == []
    problems = _request(request_ref="121002-0000000001", juminhyo_code="24727059609", kind="x").problems()
    fields = {p.field for p in problems}
    assert {"kind", "request_ref", "juminhyo_code"} <= fields
    assert all(p.ja and p.en for p in problems)
    change = _request(kind=nb.RequestKind.CHANGE)
    assert {p.field for p in change.problems()} == {"current_number", "reason"}
    assert _request(kind=nb.RequestKind.CHANGE, current_number="123456789018", reason="漏えい").problems() == []
    assert {p.field for p in _request(current_number="123456789018").problems()} == {"current_number"}
    with pytest.raises(InvalidInput):
        _request(request_ref="011002-1").check()


def test_match_result_accepts_only_the_answer_to_the_request():
    req = _request()
    number = nb.derive_individual_number(SECRET, req.juminhyo_code, 0)
    ok = nb.NumberResult(req.request_ref, req.juminhyo_code, number)
    assert nb.match_result(req, ok) == number
    for bad, field in [
        (nb.NumberResult(req.request_ref, "12345678903", number), "juminhyo_code"),
        (nb.NumberResult("011002-0000000002", req.juminhyo_code, number), "request_ref"),
        (nb.NumberResult(req.request_ref, req.juminhyo_code, number[:11] + str((int(number[11]) + 1) % 10)),
         "individual_number"),
        (nb.NumberResult(req.request_ref, req.juminhyo_code, number, kind=nb.RequestKind.CHANGE), "kind"),
    ]:
        with pytest.raises(RuleViolation) as e:
            nb.match_result(req, bad)
        assert field in {p.field for p in e.value.problems}
    change = _request(kind=nb.RequestKind.CHANGE, current_number=number, reason="漏えい")
    with pytest.raises(RuleViolation):
        nb.match_result(change, nb.NumberResult(req.request_ref, req.juminhyo_code, number, kind=nb.RequestKind.CHANGE))
