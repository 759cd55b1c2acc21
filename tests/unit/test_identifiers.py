"""Check digits of the three national identifiers (REQUIREMENTS §2), against the spec's examples and
python-stdnum's independent implementation of the 個人番号 rule."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.jp import in_ as stdnum_in

from juki.domain import identifiers as ids
from juki.domain.errors import InvalidInput


@pytest.mark.parametrize("number", ["123456789018", "621498320257", "200000000000"])
def test_individual_number_examples_are_valid(number):
    assert ids.individual_number_problem(number) is None


@pytest.mark.parametrize("number", ["123456789017", "621498320250", "12345678901", "1234567890123", "12345678901a", "１２３４５６７８９０１８"])
def test_individual_number_refused(number):
    problem = ids.individual_number_problem(number, "persons[0].individual_number")
    assert problem is not None
    assert problem.field == "persons[0].individual_number"
    assert problem.ja and problem.en


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_individual_number_rule_agrees_with_stdnum(first11):
    number = first11 + ids.individual_number_check_digit(first11)
    assert stdnum_in.is_valid(number)
    wrong = first11 + str((int(number[-1]) + 1) % 10)
    assert not stdnum_in.is_valid(wrong)
    assert ids.individual_number_problem(wrong) is not None


@pytest.mark.parametrize("code", ["131016", "012131", "012050", "011002", "121002", "142051", "140007", "010006"])
def test_lg_code_examples(code):
    assert ids.lg_code_problem(code) is None
    assert ids.with_lg_check_digit(code[:5]) == code


def test_lg_code_rule_differs_from_individual_number_rule():
    # remainder 0 gives 1 and remainder 1 gives 0 for 地方公共団体コード (unlike 個人番号)
    found_r0 = found_r1 = False
    for n in range(100000):
        jis = f"{n:05d}"
        r = sum(int(d) * w for d, w in zip(jis, ids.LG_CODE_WEIGHTS, strict=True)) % 11
        if r == 0:
            assert ids.lg_code_check_digit(jis) == "1"
            found_r0 = True
        elif r == 1:
            assert ids.lg_code_check_digit(jis) == "0"
            found_r1 = True
        if found_r0 and found_r1:
            break
    assert found_r0 and found_r1


def test_juminhyo_code_example_and_refusal():
    assert ids.juminhyo_code_problem("24727059608") is None
    assert ids.juminhyo_code_problem("24727059607") is not None
    with pytest.raises(InvalidInput) as e:
        ids.juminhyo_code("2472705960", "code")
    assert e.value.problems[0].field == "code"


def test_generated_identifiers_are_valid():
    rng = random.Random(7)
    for _ in range(200):
        assert ids.juminhyo_code_problem(ids.new_juminhyo_code(rng)) is None
        assert ids.individual_number_problem(ids.new_individual_number(rng)) is None
