"""Name pools for the synthetic city: matching kanji/katakana pairs, Japanese and foreign.

Japanese pools are Faker ``ja_JP`` pairs (``last_name_pair``, ``first_name_*_pair``: kanji, katakana and
romaji that belong together), sampled once per seed from a seeded Faker instance, plus the hand-written
tables below (more surnames, and given names by birth era so that a 90-year-old is not called 陽翔).
Never Faker's ``name()`` / ``kana_name()``: those two are drawn independently and do not match.
"""

from __future__ import annotations

from functools import lru_cache

from faker import Faker

Pair = tuple[str, str]  # (表記, カタカナ)

# Surnames that Faker's 50-entry table lacks (several common in Hokkaido and Tohoku).
EXTRA_SURNAMES: tuple[Pair, ...] = (
    ("工藤", "クドウ"), ("菊地", "キクチ"), ("三上", "ミカミ"), ("成田", "ナリタ"), ("高田", "タカダ"),
    ("小野寺", "オノデラ"), ("千葉", "チバ"), ("菅原", "スガワラ"), ("今井", "イマイ"), ("村田", "ムラタ"),
    ("桜井", "サクライ"), ("野口", "ノグチ"), ("武田", "タケダ"), ("上田", "ウエダ"), ("杉山", "スギヤマ"),
    ("増田", "マスダ"), ("小島", "コジマ"), ("丸山", "マルヤマ"), ("大野", "オオノ"), ("高木", "タカギ"),
    ("原", "ハラ"), ("松井", "マツイ"), ("河野", "コウノ"), ("北村", "キタムラ"), ("宮本", "ミヤモト"),
    ("藤本", "フジモト"), ("酒井", "サカイ"), ("安藤", "アンドウ"), ("内田", "ウチダ"), ("横山", "ヨコヤマ"),
    ("宮崎", "ミヤザキ"), ("大塚", "オオツカ"), ("平野", "ヒラノ"), ("野村", "ノムラ"), ("菅野", "カンノ"),
    ("熊谷", "クマガイ"), ("川村", "カワムラ"), ("田村", "タムラ"), ("金子", "カネコ"), ("和田", "ワダ"),
    ("中山", "ナカヤマ"), ("石田", "イシダ"), ("原田", "ハラダ"), ("小山", "コヤマ"), ("竹内", "タケウチ"),
    ("中野", "ナカノ"), ("土屋", "ツチヤ"), ("土井", "ドイ"), ("吉川", "ヨシカワ"), ("葛西", "カサイ"),
    ("東海林", "ショウジ"), ("及川", "オイカワ"), ("佐野", "サノ"), ("松尾", "マツオ"), ("五十嵐", "イガラシ"),
)  # fmt: skip

# Surnames written with a character outside the BMP or with an IVS (葛 + VS17 U+E0100): 外字/IVS cases.
EXOTIC_SURNAMES: tuple[Pair, ...] = (
    ("\U00020bb7田", "ヨシダ"),  # 𠮷田 (つちよし, U+20BB7)
    ("\U00020bb7川", "ヨシカワ"),
    ("\U00020bb7村", "ヨシムラ"),
    ("\U0002123d屋", "ツチヤ"),  # 𡈽屋 (土 with a dot, U+2123D)
    ("\U0002123d井", "ドイ"),
    ("葛\U000e0100城", "カツラギ"),  # 葛 + VS17
    ("葛\U000e0100西", "カサイ"),
)

# 旧字体 / 異体字 inside the BMP (髙 U+9AD9, 﨑 U+FA11 …): common on real registers.
OLD_FORM_SURNAMES: tuple[Pair, ...] = (
    ("髙橋", "タカハシ"), ("髙木", "タカギ"), ("山﨑", "ヤマザキ"), ("渡邊", "ワタナベ"), ("渡邉", "ワタナベ"),
    ("齋藤", "サイトウ"), ("齊藤", "サイトウ"), ("濱田", "ハマダ"), ("櫻井", "サクライ"), ("澤田", "サワダ"),
    ("廣瀬", "ヒロセ"), ("國井", "クニイ"),
)  # fmt: skip

# Given names by birth era: 0 born before 1961, 1 born 1961-1990, 2 born 1991 or later.
MALE_BY_ERA: tuple[tuple[Pair, ...], ...] = (
    (
        ("清", "キヨシ"), ("勇", "イサム"), ("博", "ヒロシ"), ("茂", "シゲル"), ("実", "ミノル"), ("武", "タケシ"),
        ("進", "ススム"), ("正", "タダシ"), ("勝", "マサル"), ("三郎", "サブロウ"), ("一郎", "イチロウ"),
        ("和夫", "カズオ"), ("幸雄", "ユキオ"), ("正夫", "マサオ"), ("昭", "アキラ"), ("隆", "タカシ"),
        ("豊", "ユタカ"), ("義雄", "ヨシオ"), ("秀夫", "ヒデオ"), ("功", "イサオ"),
    ),
    (
        ("誠", "マコト"), ("大輔", "ダイスケ"), ("拓也", "タクヤ"), ("達也", "タツヤ"), ("剛", "ツヨシ"),
        ("浩二", "コウジ"), ("哲也", "テツヤ"), ("雄一", "ユウイチ"), ("貴之", "タカユキ"), ("健太", "ケンタ"),
        ("秀樹", "ヒデキ"), ("智", "サトシ"), ("和彦", "カズヒコ"), ("信也", "シンヤ"),
    ),
    (
        ("蓮", "レン"), ("陽翔", "ハルト"), ("湊", "ミナト"), ("蒼", "アオイ"), ("大翔", "ヒロト"), ("悠真", "ユウマ"),
        ("颯太", "ソウタ"), ("陸", "リク"), ("樹", "イツキ"), ("悠斗", "ユウト"), ("大和", "ヤマト"),
        ("結翔", "ユイト"), ("朝陽", "アサヒ"), ("海斗", "カイト"), ("拓海", "タクミ"),
    ),
)  # fmt: skip
FEMALE_BY_ERA: tuple[tuple[Pair, ...], ...] = (
    (
        ("和子", "カズコ"), ("幸子", "サチコ"), ("節子", "セツコ"), ("弘子", "ヒロコ"), ("京子", "キョウコ"),
        ("美代子", "ミヨコ"), ("久子", "ヒサコ"), ("恵子", "ケイコ"), ("文子", "フミコ"), ("千代子", "チヨコ"),
        ("静子", "シズコ"), ("ハナ", "ハナ"), ("キヨ", "キヨ"), ("トミ", "トミ"), ("光子", "ミツコ"),
        ("敏子", "トシコ"), ("良子", "ヨシコ"), ("悦子", "エツコ"),
    ),
    (
        ("裕子", "ユウコ"), ("真由美", "マユミ"), ("恵美", "エミ"), ("智子", "トモコ"), ("久美子", "クミコ"),
        ("愛", "アイ"), ("彩", "アヤ"), ("麻衣", "マイ"), ("美穂", "ミホ"), ("由美", "ユミ"), ("直美", "ナオミ"),
        ("純子", "ジュンコ"), ("由美子", "ユミコ"), ("千春", "チハル"),
    ),
    (
        ("陽葵", "ヒマリ"), ("凛", "リン"), ("結愛", "ユア"), ("芽依", "メイ"), ("葵", "アオイ"), ("紬", "ツムギ"),
        ("結菜", "ユイナ"), ("美咲", "ミサキ"), ("さくら", "サクラ"), ("莉子", "リコ"), ("花", "ハナ"),
        ("杏", "アン"), ("澪", "ミオ"), ("心春", "コハル"), ("楓", "カエデ"),
    ),
)  # fmt: skip


@lru_cache(maxsize=8)
def faker_pools(seed: int, size: int = 3000) -> tuple[tuple[Pair, ...], tuple[Pair, ...], tuple[Pair, ...]]:
    """(surnames, male given names, female given names) sampled from a Faker ``ja_JP`` seeded with ``seed``.

    Faker's surname table is weighted by real frequency (佐藤 > 鈴木 > …), so picking uniformly from the
    sample keeps that shape.  Deterministic for a given seed and Faker version.
    """
    fake = Faker("ja_JP")
    fake.seed_instance(seed)
    last = tuple((k, kana) for k, kana, _ in (fake.last_name_pair() for _ in range(size)))
    male = tuple((k, kana) for k, kana, _ in (fake.first_name_male_pair() for _ in range(size // 2)))
    female = tuple((k, kana) for k, kana, _ in (fake.first_name_female_pair() for _ in range(size // 2)))
    return last, male, female


# ---------------------------------------------------------------------------------------------------
# Foreign residents.  (last, given) pools per nationality: (表記, カタカナ, ROMAN).  ``kanji`` nationalities
# register the name in kanji (as on the 在留カード's 漢字氏名); the others in the alphabet, family name first.

Triple = tuple[str, str, str]

CN_LAST: tuple[Triple, ...] = (
    ("王", "ワン", "WANG"), ("李", "リ", "LI"), ("張", "チャン", "ZHANG"), ("劉", "リュウ", "LIU"),
    ("陳", "チェン", "CHEN"), ("楊", "ヤン", "YANG"), ("趙", "チャオ", "ZHAO"), ("黄", "ホアン", "HUANG"),
    ("周", "ジョウ", "ZHOU"), ("呉", "ウー", "WU"), ("林", "リン", "LIN"),
)  # fmt: skip
CN_MALE: tuple[Triple, ...] = (
    ("偉", "ウェイ", "WEI"), ("強", "チャン", "QIANG"), ("磊", "レイ", "LEI"), ("軍", "ジュン", "JUN"),
    ("洋", "ヤン", "YANG"), ("傑", "ジエ", "JIE"), ("浩然", "ハオラン", "HAORAN"), ("子軒", "ズーシュエン", "ZIXUAN"),
)  # fmt: skip
CN_FEMALE: tuple[Triple, ...] = (
    ("芳", "ファン", "FANG"), ("娜", "ナー", "NA"), ("敏", "ミン", "MIN"), ("静", "ジン", "JING"),
    ("麗", "リー", "LI"), ("婷", "ティン", "TING"), ("雪", "シュエ", "XUE"), ("欣怡", "シンイー", "XINYI"),
)  # fmt: skip
KR_LAST: tuple[Triple, ...] = (
    ("金", "キム", "KIM"), ("李", "イ", "LEE"), ("朴", "パク", "PARK"), ("崔", "チェ", "CHOI"),
    ("鄭", "チョン", "JEONG"), ("姜", "カン", "KANG"), ("趙", "チョ", "CHO"), ("尹", "ユン", "YOON"),
)  # fmt: skip
KR_MALE: tuple[Triple, ...] = (
    ("英洙", "ヨンス", "YOUNGSOO"), ("民俊", "ミンジュン", "MINJUN"), ("成浩", "ソンホ", "SUNGHO"),
    ("志勲", "ジフン", "JIHOON"), ("在植", "ジェシク", "JAESIK"), ("東旭", "ドンウク", "DONGWOOK"),
)  # fmt: skip
KR_FEMALE: tuple[Triple, ...] = (
    ("秀晶", "スジョン", "SUJEONG"), ("美英", "ミヨン", "MIYOUNG"), ("恩恵", "ウネ", "EUNHYE"),
    ("智恩", "ジウン", "JIEUN"), ("順子", "スンジャ", "SOONJA"), ("英姫", "ヨンヒ", "YOUNGHEE"),
)  # fmt: skip
# 通称 of 特別永住者: Japanese surnames used in daily life.
ALIAS_SURNAMES: tuple[Pair, ...] = (
    ("金本", "カネモト"), ("金田", "カネダ"), ("新井", "アライ"), ("松本", "マツモト"), ("山本", "ヤマモト"),
    ("安田", "ヤスダ"), ("岩本", "イワモト"), ("高山", "タカヤマ"), ("木村", "キムラ"), ("大山", "オオヤマ"),
)  # fmt: skip
VN_LAST: tuple[Triple, ...] = (
    ("", "グエン", "NGUYEN"), ("", "チャン", "TRAN"), ("", "レ", "LE"), ("", "ファム", "PHAM"),
    ("", "ホアン", "HOANG"), ("", "ヴー", "VU"), ("", "ダン", "DANG"), ("", "ブイ", "BUI"), ("", "ドー", "DO"),
)  # fmt: skip
VN_MALE: tuple[Triple, ...] = (
    ("", "ヴァン　アン", "VAN AN"), ("", "ヴァン　ミン", "VAN MINH"), ("", "ドゥック　フン", "DUC HUNG"),
    ("", "ヴァン　トゥアン", "VAN TUAN"), ("", "ホアン　ナム", "HOANG NAM"), ("", "クアン　ハイ", "QUANG HAI"),
)  # fmt: skip
VN_FEMALE: tuple[Triple, ...] = (
    ("", "ティ　ラン", "THI LAN"), ("", "ティ　ホア", "THI HOA"), ("", "ティ　リン", "THI LINH"),
    ("", "ティ　マイ", "THI MAI"), ("", "ティ　トゥー", "THI THU"), ("", "ティ　フオン", "THI HUONG"),
)  # fmt: skip
PH_LAST: tuple[Triple, ...] = (
    ("", "サントス", "SANTOS"), ("", "レイエス", "REYES"), ("", "クルス", "CRUZ"), ("", "ガルシア", "GARCIA"),
    ("", "バウティスタ", "BAUTISTA"), ("", "メンドーサ", "MENDOZA"),
)  # fmt: skip
PH_MALE: tuple[Triple, ...] = (
    ("", "ホセ", "JOSE"), ("", "マーク", "MARK"), ("", "ジョン　ポール", "JOHN PAUL"), ("", "ロドリゴ", "RODRIGO"),
)  # fmt: skip
PH_FEMALE: tuple[Triple, ...] = (
    ("", "マリア", "MARIA"), ("", "アンジェリカ", "ANGELICA"), ("", "ジョセリン", "JOCELYN"),
    ("", "メリー　ジョイ", "MARY JOY"), ("", "クリスティン", "KRISTINE"),
)  # fmt: skip
NP_LAST: tuple[Triple, ...] = (
    ("", "グルン", "GURUNG"), ("", "シュレスタ", "SHRESTHA"), ("", "タマン", "TAMANG"), ("", "ライ", "RAI"),
    ("", "タパ", "THAPA"), ("", "マガル", "MAGAR"),
)  # fmt: skip
NP_MALE: tuple[Triple, ...] = (
    ("", "ラム", "RAM"), ("", "ビカス", "BIKASH"), ("", "スレス", "SURESH"), ("", "アニル", "ANIL"),
)  # fmt: skip
NP_FEMALE: tuple[Triple, ...] = (
    ("", "シタ", "SITA"), ("", "アニタ", "ANITA"), ("", "サリタ", "SARITA"), ("", "プラミラ", "PRAMILA"),
)  # fmt: skip
US_LAST: tuple[Triple, ...] = (
    ("", "スミス", "SMITH"), ("", "ジョンソン", "JOHNSON"), ("", "ウィリアムズ", "WILLIAMS"),
    ("", "ブラウン", "BROWN"), ("", "ミラー", "MILLER"), ("", "デイビス", "DAVIS"),
)  # fmt: skip
US_MALE: tuple[Triple, ...] = (
    ("", "ジョン", "JOHN"), ("", "マイケル", "MICHAEL"), ("", "デイビッド", "DAVID"), ("", "ジェームズ", "JAMES"),
)  # fmt: skip
US_FEMALE: tuple[Triple, ...] = (
    ("", "エミリー", "EMILY"), ("", "サラ", "SARAH"), ("", "ジェシカ", "JESSICA"), ("", "アシュリー", "ASHLEY"),
)  # fmt: skip
ID_LAST: tuple[Triple, ...] = (
    ("", "サントソ", "SANTOSO"), ("", "ウィジャヤ", "WIJAYA"), ("", "サプトラ", "SAPUTRA"), ("", "プラタマ", "PRATAMA"),
)  # fmt: skip
ID_MALE: tuple[Triple, ...] = (("", "アディ", "ADI"), ("", "ブディ", "BUDI"), ("", "リズキ", "RIZKI"))
ID_FEMALE: tuple[Triple, ...] = (("", "デウィ", "DEWI"), ("", "シティ", "SITI"), ("", "プトゥリ", "PUTRI"))
