"""Search keys (REG-SEARCH): kana insensitive to script, width, spaces, small kana and voicing; names
themselves never normalised."""

from juki.domain.kana import address_key, kana_key, name_key


def test_kana_key_folds_script_width_spacing_and_voicing():
    key = kana_key("ガッコウ　タロウ")
    assert key == kana_key("がっこう たろう") == kana_key("ｶﾞｯｺｳ ﾀﾛｳ") == kana_key("カツコウタロウ")
    assert kana_key("サトウ") != kana_key("サイトウ")


def test_kana_prefix_is_a_prefix_of_the_key():
    assert kana_key("すずき　いちろう").startswith(kana_key("スズ"))


def test_name_key_drops_ivs_and_spaces_but_keeps_distinct_kanji():
    assert name_key("葛\U000e0100城　一郎") == name_key("葛城一郎")
    assert name_key("髙橋") != name_key("高橋")  # variant kanji stay distinct: no silent merging
    assert name_key("\U00020bb7田") == "\U00020bb7田"


def test_address_key_unifies_width_and_dashes():
    assert address_key("北１条西２丁目１−３") == address_key("北1条西2丁目1-3")
