"""Tests for server.utils.gender (detector and name normalisation: cases and API contract)."""
from __future__ import annotations

import math
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gender_decorate import DECORATIONS, STYLES, decorate, decorate_all  # noqa: E402

from server.utils.gender import GenderGuess, detect_gender  # noqa: E402
from server.utils.gender import names as nn  # noqa: E402


@pytest.fixture(params=sorted(DECORATIONS))
def decoration(request):
    """Each Instagram-style decoration kind of tests/gender_decorate.py."""
    return request.param


def g(full_name, username=None):
    return detect_gender(full_name, username).gender


def test_contract_shapes():
    r = detect_gender("Jessica Smith")
    assert isinstance(r, GenderGuess)
    assert r.gender == "female" and 0.5 <= r.probability <= 1.0 and r.source == "first_name"
    u = detect_gender("")
    assert u == GenderGuess("unknown", 0.0, "empty")


@pytest.mark.parametrize("name,expected", [
    ("Jessica Smith", "female"), ("John Smith", "male"), ("Maria Garcia", "female"),
    ("Pierre Paul Grivel", "male"), ("Anna-Lena Meyer", "female"),
])
def test_plain_names(name, expected):
    assert g(name) == expected


@pytest.mark.parametrize("style", sorted(STYLES))
def test_each_alphabet(style):
    assert g(STYLES[style]("Jessica") + " " + STYLES[style]("Smith")) == "female"
    assert g(STYLES[style]("Michael")) == "male"


def test_every_decoration_keeps_the_answer(decoration):
    for name, expected in (("jessica smith", "female"), ("michael brown", "male")):
        d = decorate(name, decoration, seed=3)
        got = g("", d) if decoration == "username" else g(d)
        assert got == expected, (decoration, d)


@pytest.mark.parametrize("text", [
    "🌸 Jessica 🌸", "✨Jessica✨", "Jes\u200bsica", "J̶e̶s̶s̶i̶c̶a̶", "ʝєѕѕι¢α", "Јеѕѕіса", "🇯🇪🇸🇸🇮🇨🇦",
    "JESSICA", "jessica", "Jéssica",
])
def test_fancy_and_lookalike_inputs(text):
    assert g(text) == "female"


@pytest.mark.parametrize("text,expected,source", [
    ("Jessica (she/her)", "female", "first_name"),
    ("she/her | Jessica", "female", "first_name"),
    ("Kim Lee (she/her)", "female", None),   # unisex name + pronoun
    ("Kim (he/him)", "male", None),
    ("Xyzzq (she/her)", "female", "pronoun"),
    ("Xyzzq (he/him)", "male", "pronoun"),
])
def test_pronouns(text, expected, source):
    r = detect_gender(text)
    assert r.gender == expected
    if source:
        assert r.source == source


def test_they_them_is_no_signal():
    assert g("Xyzzq (they/them)") == "unknown"
    assert g("Jessica (they/them)") == "female"  # the name still decides
    assert g("Xyzzq she/they") == "unknown"


def test_titles():
    assert detect_gender("Mrs. Xyzzq").gender == "female"
    assert detect_gender("Mrs. Xyzzq").source == "title"
    assert g("Mr Xyzzq") == "male"
    assert g("Dr. Maria Lopez") == "female"  # Dr is skipped, not read as a name


@pytest.mark.parametrize("text", [
    "Bella Hair Studio", "Jessica's Bakery 🍰", "Maria Nails Salon", "Sunset Boutique", "Anna Photography",
])
def test_business_names_unknown(text):
    r = detect_gender(text)
    assert r.gender == "unknown" and r.source == "business"


def test_couple_unknown():
    assert detect_gender("Anna & Tom").source == "couple"


@pytest.mark.parametrize("text", ["", "   ", "\u200b", "🌸✨💕", "🔥🔥", None, "....", "12345", "a"])
def test_empty_and_symbol_only_unknown(text):
    r = detect_gender(text)
    assert r.gender == "unknown" and r.probability == 0.0


@pytest.mark.parametrize("username,expected", [
    ("jessica.smith_99", "female"), ("michael_brown", "male"), ("thejessicasmith", "female"),
    ("JessicaSmith", "female"), ("its.michael.22", "male"), ("j.smith", "unknown"),
])
def test_usernames(username, expected):
    r = detect_gender("", username)
    assert r.gender == expected
    if expected != "unknown":
        assert r.source == "username"


def test_display_name_beats_username():
    assert g("Jessica", "michael_brown") == "female"
    assert g("🌸", "jessica.smith") == "female"


def test_username_business_unknown():
    assert g("", "bella.hair.studio") == "unknown"


@pytest.mark.parametrize("text,expected", [
    ("Мария Иванова", "female"), ("Александр", "male"), ("Ελένη", "female"), ("Γιώργος", "male"),
    ("प्रिया", "female"), ("김지영", "female"),
])
def test_non_latin_scripts(text, expected):
    assert g(text) == expected


def test_ambiguous_names_unknown():
    assert detect_gender("Kim").source == "ambiguous"
    assert detect_gender("Casey Brooks").source == "ambiguous"
    assert detect_gender("Leslie Brooks").source == "ambiguous"


def test_initials_are_not_names():
    assert g("J. Smith") == "unknown"
    assert g("J. Michael Smith") == "male"  # middle name decides


def test_normalize_helpers():
    assert nn.fold_key("José-María") == "josemaria"
    assert nn.fold_key("𝐉𝐞𝐬𝐬𝐢𝐜𝐚") == "jessica"
    assert nn.fold_key("ᴊᴇssɪᴄᴀ") == "jessica"
    assert nn.fold_key("Јеѕѕіса") == "jessica"  # Cyrillic homoglyphs
    assert nn.fold_key("Мария") == "mariya"     # genuine Cyrillic: transliterated
    assert nn.native_key("Jessica") == "" and nn.native_key("지영") == "지영"
    assert nn.split_username("jessica.smith_99") == ["jessica", "smith"]
    assert nn.split_username("JessicaSmith") == ["jessica", "smith"]
    assert nn.clean_display("Jes\u200bsica ✨") == "Jessica  "
    assert "devanagari kept whole" and nn.clean_display("प्रिया") == "प्रिया"


def test_decorator_module_is_deterministic():
    assert decorate_all("jessica smith", seed=1) == decorate_all("jessica smith", seed=1)
    assert decorate("jessica smith", "style_bold") == "𝐉𝐞𝐬𝐬𝐢𝐜𝐚 𝐒𝐦𝐢𝐭𝐡"


def test_pure_and_no_import_side_effects():
    import importlib

    import server.utils.gender.lookup as gd

    importlib.reload(gd)
    assert gd.load_table.cache_info().currsize == 0  # nothing loaded by import
    assert detect_gender("Jessica Smith") == detect_gender("Jessica Smith")


def test_flag_emoji_is_not_letters():
    assert nn.clean_display("🇭🇺 Anna").split() == ["Anna"]
    assert g("🇭🇺 Anna Nagy") == "female"      # not read as the name "Hu"
    assert g("🇯🇪🇸🇸🇮🇨🇦") == "female"          # a long run is letter art


def test_title_then_single_token_is_a_surname():
    assert detect_gender("Mrs. Thompson").source == "title"
    assert g("Mr. Maria") == "male"             # the title decides; "Maria" is the surname slot
    assert g("Dr Thompson") == "unknown"
    assert g("Dr. Maria Lopez") == "female"


@pytest.mark.parametrize("text,expected", [
    ("Jessica Smith | Tattoo Artist", "female"), ("Michael Brown • Travel", "male"),
    ("Bella Hair Studio | NYC", "unknown"),
])
def test_profession_after_separator(text, expected):
    assert g(text) == expected


@pytest.mark.parametrize("text", ["Sydney Auto Repair", "Luxe Prime Labs", "Wild Vintage Supply"])
def test_more_business_words(text):
    assert detect_gender(text).source == "business"


def test_username_must_match_display_name():
    assert g("Xyzzq Qwrtz", "jessica.smith") == "unknown"   # unrelated handle: no evidence
    assert g("Xyzzq Qwrtz", "jessica.qwrtz") == "female"     # shares the surname: used
    assert g("K. Qwrtz", "jessica.qwrtz") == "female"        # the given name behind an initial
    assert g("Kim Keith", "keith.kimberly") == "female"      # display "Kim" expanded to "kimberly"


@pytest.mark.parametrize("full,handle", [
    ("Zilfa", "zilfa.sener26"),             # the handle's other chunk is the surname (Sener: a man's name)
    ("Leslie A.", "leslie_allen57"),        # ... and here (Allen)
    ("Kim", "xx_kim.webb_xx"),
    ("Tomurcuk Çamurcuoğlu", "tomurcuk_camurcuoglu85"),  # the display first name is not re-read ("tom...")
])
def test_username_repeating_the_display_name_adds_nothing(full, handle):
    assert detect_gender(full, handle).source != "username"
    assert detect_gender(full, handle) == detect_gender(full)


def test_display_words_are_not_segmented_but_camel_case_is_split():
    assert g("Tomurcuk") == "unknown"           # one unknown word is not read as "Tom" + "urcuk"
    assert g("MariaGarcia 🌸") == "female"       # camel case: two words
    assert g("DeShawn") == "male" and g("LaToya") == "female"  # a camel-case name stays whole
    assert g("MacKenzie Jones") == "female"


def test_delimited_username_chunk_is_not_segmented():
    assert g("", "thejessicasmith") == "female"   # glued: segmented
    assert g("", "jessicaxq.smith") == "unknown"  # delimited unknown chunk stays whole


def test_pinyin_syllable_model():
    from server.utils.gender.lookup import load_syllables, syllable_llr

    first, second, a, b = load_syllables()
    assert len(first) > 300 and "xiao" in first and "ming" in second
    assert syllable_llr("jessica") is None          # not two pinyin syllables
    assert syllable_llr("xiaoming") is not None
    # a syllable that WGND's Chinese names mark strongly (gang/qiang: male, mei: female)
    assert syllable_llr("zhiqiang") < 0 < syllable_llr("meixiu")


def test_one_syllable_is_not_two():
    from server.utils.gender.lookup import syllable_llr

    assert syllable_llr("wang") is None and syllable_llr("xian") is None  # not "wa"+"ng", "xi"+"an"


@pytest.mark.parametrize("names,given", [
    (["xiaoming", "wang"], "xiaoming"), (["xiao", "ming", "wang"], "xiaoming"),
    (["xiao-ming", "wang"], "xiaoming"), (["wang", "xiaoming"], "xiaoming"),
    (["jianhua", "", "li"], "jianhua"),
])
def test_chinese_names_are_read_by_the_syllable_model(names, given):
    from server.utils.gender.detector import _chinese_given
    from server.utils.gender.lookup import syllable_llr
    from server.utils.gender.tuning import load_tuning

    assert _chinese_given(names) == pytest.approx(syllable_llr(given) * load_tuning().pinyin_scale)


@pytest.mark.parametrize("names", [
    ["anna", "smith"],        # no pinyin family name
    ["sean", "li"],           # a given name nam_dict knows, not two syllables
    ["li", "na"],             # a one-syllable given name: not the two-syllable model's case
    ["xiaoming"],             # no family name to tell it is Chinese
    ["王小明", "li"],          # not romanised
])
def test_not_chinese_names(names):
    from server.utils.gender.detector import _chinese_given

    assert _chinese_given(names) is None


def test_chinese_name_order_and_western_given_names():
    assert detect_gender("Xiulan Wang") == detect_gender("Wang Xiulan") == detect_gender("xiu-lan wang")
    assert g("Sean Li") == "male" and g("Anna Long") == "female"


@pytest.mark.parametrize("text,expected", [
    ("山田 花子", "unknown"),     # Japanese order: the kanji given name has no Japanese reading here
    ("後藤 幹", "unknown"),       # the family name is not read as a given name ("teng")
    ("太田 さゆり", "female"),    # a kana given name is looked up
])
def test_japanese_family_name_first(text, expected):
    assert g(text) == expected


def test_chinese_family_name_written_apart():
    assert detect_gender("王 小明") == detect_gender("王小明")
    assert detect_gender("李 娜") == detect_gender("李娜")


def test_han_readings_are_not_cue_words():
    # 娜娜 reads "nana", which is a given name here, not the word "nana" (grandma)
    assert detect_gender("欧阳 娜娜").source == "first_name"
    assert detect_gender("Мама Лена").gender == "female"  # Cyrillic words are still words


@pytest.mark.parametrize("username", ["x" * 1000, "the" * 1000, "mrs" * 1000, "theits" * 500])
def test_absurd_usernames_do_not_raise(username):
    r = detect_gender("", username)
    assert r.gender == "unknown" and r.source == "not_found"


@pytest.mark.parametrize("text", ["Ella Fitzgerald", "Ela Nowak", "ELLA HUGHES", "Ella 🌸 Hughes"])
def test_given_names_that_are_pronouns_elsewhere(text):
    # "ella"/"ela" are pronouns in Spanish/Portuguese sets, but outside a set they are names
    r = detect_gender(text)
    assert (r.gender, r.source) == ("female", "first_name")


@pytest.mark.parametrize("text", [
    "Mr & Mrs Smith", "Mr. and Mrs. Smith", "Mrs + Mr Jones", "Anna 💑 Tom", "Sarah 👫 James", "Anna y Carlos",
    "Ana e Pedro", "Marie et Pierre", "Anna i Piotr", "Anna x Tom", "Anna with Tom", "Smith Family",
    "Familia Pérez",
])
def test_couples_and_families_unknown(text):
    assert detect_gender(text).source == "couple"


@pytest.mark.parametrize("text", [
    "Anna ❤️ Smith", "Anna ❤️ Martin", "Anna E Smith", "Maria Y. Lopez", "Maria E. Thomas", "Sarah 💍 Thomas",
    "Ana García y Martín", "Núria Vidal i Tomàs", "Lisa x Louis Vuitton", "Anna Smith Family Lawyer",
])
def test_one_person_is_not_a_couple(text):
    # initials, double surnames, collaborations, rings and professions next to a single name
    assert g(text) == "female"


@pytest.mark.parametrize("handle", ["smithfamily", "family.smith", "the_jones_familia"])
def test_family_handles_unknown(handle):
    assert g("", handle) == "unknown"


@pytest.mark.parametrize("text", ["Beach Vibes", "Gaming World"])
def test_common_words_are_not_names(text):
    # the tables keep a common English word only on strong name evidence (scripts/build_gender_table.py)
    assert g(text) == "unknown"


def test_cue_words_in_handles_are_not_names():
    assert g("", "dad_life") == "unknown"
    assert detect_gender("", "proud_mom").gender == "female"    # a gendered word alone: weak evidence
    assert detect_gender("", "mom.of.three").gender == "female"
    assert g("Xyzzq Qwrtz", "proud_mom") == "unknown"             # next to an unrelated display name: nothing


def test_pronouns_against_the_name_give_unknown():
    # the set may be the person's ("Michael (she/her)") or someone else's ("Liam's mom (he/him)")
    assert detect_gender("Michael (she/her)").source == "ambiguous"
    assert g("Jessica, Liam's mom (he/him)") == "unknown"
    assert detect_gender("Jessica (she/her)").source == "first_name"  # agreeing: the stronger decides
    assert detect_gender("Xyzzq (she/her)").source == "pronoun"       # alone: the set decides


def test_one_syllable_chinese_names_read_both_ways():
    assert g("Wang Fang") == "unknown"   # "wang" read as a given name is male, "fang" female: no answer
    assert g("Jun Wang") == "male"       # both readings agree


def test_chinese_family_name_he_is_not_a_pronoun():
    # "He" after a pinyin given name is the family name: the name is read as Chinese
    # (syllable model or capped one-syllable evidence), not as the lone given name
    assert detect_gender("Li Juan He").gender == "female"
    assert detect_gender("Wei He").probability < detect_gender("Wei").probability
    assert g("Jun He (he/him)") == "male"
    # after a Western given name, or followed by another word, it stays a pronoun
    assert detect_gender("Jessica he").source == "first_name" and g("Jessica he") == "female"
    assert g("Michael he him") == "male"


def test_lead_in_words_and_camel_case():
    assert g("Simply Jessica") == "female" and g("Just Anna") == "female" and g("Hello Sarah") == "female"
    assert g("TheRealMike") == "male" and g("ImJessicaSmith") == "female"


def test_hangul_family_name_written_apart():
    assert detect_gender("김 민지") == detect_gender("김민지")


def test_ornament_glyphs_next_to_a_latin_name_are_ignored():
    assert g("★彡 Jessica Smith 彡★") == "female"
    assert g("ツ Anna") == "female"


def test_first_middle_compound_falls_back_to_first():
    assert g("Mary Xyzzq Smith") == "female"        # unknown compound: first name decides
    assert g("J. Michael Smith") == "male"


@pytest.mark.parametrize("full,handle", [
    ("anna maria smith", "anna.maria_smith99"), ("xiao ming wang", "xiao_ming.wang"),
    ("kim marie jones", "kim.marie.jones"), ("andrea rossi", "_andrea.rossi"),
    ("jean paul martin", "jean_paul_martin_1987"), ("j smith", "j.smith"),
])
def test_separated_username_reads_like_display_name(full, handle):
    # a "given.family" handle goes through the same name-evidence code as the display name
    a, b = detect_gender(full), detect_gender("", handle)
    assert (a.gender, a.probability) == (b.gender, b.probability)
    if a.gender != "unknown":
        assert b.source == "username"


def test_calibration_labels_documented():
    # the shipped calibration is the count-backed hybrid: middling buckets sit between
    # the confident-only extreme and 0.5 (no bucket of share 0.7-0.9 at certainty)
    import json
    import os

    from server.utils.gender import lookup as gender_data

    cal = json.load(open(os.path.join(os.path.dirname(gender_data.__file__), "data", "calibration.json")))
    for src in ("ssa", "wgnd", "namdict"):
        mid = [v for b, v in cal[src]["llr"].items() if b.endswith(":5")]
        assert mid and all(-1.0 < v < 3.0 for v in mid)


# --- blind spots closed with the cross-validated tuning (issue: names never seen) ---------------

_SURNAMES = ["smith", "johnson", "williams", "brown", "jones", "miller", "davis", "wilson", "anderson", "moore",
             "thompson", "white", "harris", "clark", "lewis", "robinson", "walker", "garcia", "rodriguez",
             "martinez", "hernandez", "lopez", "gonzalez", "nguyen", "schmidt", "mueller"]
_GIVEN = {"emma": "female", "olivia": "female", "sophia": "female", "jessica": "female", "sarah": "female",
          "james": "male", "michael": "male", "david": "male", "daniel": "male", "robert": "male"}


@pytest.mark.parametrize("sep", [".", "_", ""])
def test_surname_first_handles(sep):
    """Every common US family name before a given name reads the given name, in any separator
    style, and the given-name-first handle reads the same."""
    wrong = []
    for s in _SURNAMES:
        for given, want in _GIVEN.items():
            if sep == "":
                continue  # glued handles: best effort, covered by the bench
            for handle in (f"{s}{sep}{given}", f"{given}{sep}{s}", f"{s}{sep}{given}{sep}92"):
                if g("", handle) != want:
                    wrong.append(handle)
    assert not wrong, wrong


def test_surname_first_display_names():
    assert g("Wilson Emma") == "female" and g("Roberts Kelly") == "female" and g("Garcia Daniel") == "male"
    # a first token that is as much a given name as a family name keeps the usual order
    assert g("Morgan Smith") == detect_gender("Morgan").gender
    assert g("Taylor Swift") == detect_gender("Taylor").gender


_KOREAN_FAMILY = ["kim", "lee", "park", "choi", "jung", "kang", "cho", "yoon", "jang", "lim", "han", "shin"]
_KOREAN_GIVEN = {("min", "ji"): "female", ("seo", "yeon"): "female", ("eun", "ji"): "female",
                 ("hye", "jin"): "female", ("ji", "yeon"): "female", ("min", "ho"): "male",
                 ("jun", "ho"): "male", ("dong", "hyun"): "male", ("young", "ho"): "male",
                 ("seung", "ho"): "male"}


@pytest.fixture
def full_east_asian_evidence():
    """The shipped tuning with Chinese/Korean evidence at full weight (the cross-validated weight
    may leave weaker Korean names unknown: the tests below check which name is read)."""
    from server.utils.gender.detector import use_tuning
    from server.utils.gender.tuning import load_tuning

    prev = use_tuning(load_tuning()._replace(east_asian_scale=1.0, east_asian_cap=99.0))
    yield
    use_tuning(prev)


def test_korean_names_never_wrong_at_the_shipped_tuning():
    for fam in _KOREAN_FAMILY:
        for (a, b), want in _KOREAN_GIVEN.items():
            for text in (f"{fam} {a}{b}", f"{a}{b} {fam}", f"{fam} {a} {b}"):
                assert g(text) in (want, "unknown"), text


def test_korean_family_name_first_and_last(full_east_asian_evidence):
    """Romanised Korean names in both orders and every usual spelling of the given name
    (one word, hyphenated, two words, capitalised) read the given name from the Korean records."""
    wrong = []
    for fam in _KOREAN_FAMILY:
        F = fam.capitalize()
        for (a, b), want in _KOREAN_GIVEN.items():
            for given in (a + b, f"{a}-{b}", f"{a} {b}"):
                gv = given.title() if " " in given else given.capitalize()
                for text in (f"{F} {gv}", f"{gv} {F}"):
                    if g(text) != want:
                        wrong.append(text)
            for handle in (f"{fam}.{a}{b}", f"{a}{b}_{fam}"):
                if g("", handle) != want:
                    wrong.append(handle)
    assert not wrong, wrong


def test_korean_three_words_with_family_names_at_both_ends(full_east_asian_evidence):
    # "Park Hye Jin": only the family-name-first reading is a name in the Korean records;
    # "Jung Yu Na" is both ("Jung-yu Na" and "Yu-na Jung"): read in the written order
    assert g("Park Hye Jin") == "female" and g("Hye Jin Park") == "female"


def test_korean_records_decide_over_latin_spellings(full_east_asian_evidence):
    # "Hyungsoon" is female as a folded Latin key, 형순 is male in the Korean records
    assert g("Hyungsoon Im") == "male"
    # a Korean family name before a Western given name is not reordered
    assert g("Kim Parker") == detect_gender("Kim Parker").gender and g("Park Jessica") == "female"


@pytest.mark.parametrize("script,names", [
    ("cyrillic", {"Мария": "female", "Анна": "female", "Ольга": "female", "Наталья": "female", "Юлия": "female",
                  "Дмитрий": "male", "Сергей": "male", "Алексей": "male", "Иван": "male", "Юрий": "male"}),
    ("greek", {"Ελένη": "female", "Μαρία": "female", "Κατερίνα": "female", "Γιώργος": "male",
               "Δημήτρης": "male", "Νίκος": "male"}),
    ("arabic", {"محمد": "male", "أحمد": "male", "خالد": "male", "يوسف": "male", "علي": "male",
                "فاطمة": "female", "مريم": "female", "زينب": "female", "ليلى": "female", "عائشة": "female"}),
    ("hebrew", {"שרה": "female", "רחל": "female", "דוד": "male", "אברהם": "male"}),
    ("devanagari", {"प्रिया": "female", "सुनीता": "female", "अंजलि": "female", "राहुल": "male", "अमित": "male"}),
    ("thai", {"มาลี": "female", "สุดา": "female"}),
])
def test_non_latin_script_names(script, names):
    """Each script's common given names, alone and with a family name in the same script or in
    Latin letters, are read; an Arabic name with or without its vowel marks reads the same."""
    wrong = {}
    for name, want in names.items():
        for text in (name, f"{name} Smith"):
            if g(text) != want:
                wrong[text] = g(text)
    assert not wrong, (script, wrong)


def test_arabic_vowel_marks_and_alef_forms_are_ignored():
    assert g("أَحْمَد") == g("أحمد") == g("احمد") == "male"
    assert nn.native_key("أَحْمَد") == nn.native_key("احمد")


def test_abjad_transliteration_is_not_a_latin_key():
    # "מיכל" (Michal, female) transliterates to "mykhl"; as a Latin key that hit a one-off record
    # (male). Michal and Michael share a skeleton in Israel's names, so it stays unknown.
    assert g("מיכל") == "unknown"


def test_consonant_skeleton():
    sk = nn.consonant_skeleton
    assert sk("mohammed") == sk("muhammad") == sk("mhmd") == "mhmd"
    assert sk("fatima") == sk("ftmh") == "ftm"
    assert sk("sarah") == sk("srh") == "sr"
    assert nn.skeleton_script("محمد") == "arabic" and nn.skeleton_script("שרה") == "hebrew"
    assert nn.skeleton_script("प्रिया") == "indic" and nn.skeleton_script("สุดา") == "thai"
    assert nn.skeleton_script("Maria") is None


_COUPLE_PAIRS = [("Juan", "Maria"), ("José", "Ana"), ("Pedro", "Lucia"), ("Pierre", "Marie"), ("João", "Ana"),
                 ("Carlos", "Sofia"), ("Luca", "Giulia"), ("Anna", "Tom")]


@pytest.mark.parametrize("joiner", ["y", "e", "et", "i", "og", "x", "with", "con", "avec"])
def test_couples_in_other_languages_are_unknown(joiner):
    """Two given names of opposite genders joined by any language's "and", either order."""
    for a, b in _COUPLE_PAIRS:
        for text in (f"{a} {joiner} {b}", f"{b} {joiner} {a}"):
            assert detect_gender(text).source == "couple", text


def test_one_person_with_joining_words_is_not_a_couple():
    for text in ("Maria E. Thomas", "Ana García y Martín", "Lisa x Louis Vuitton", "Juan y Pérez"):
        assert detect_gender(text).gender != "unknown", text


_SHOPS = ["Loja da {}", "Chez {}", "Casa de {}", "Casa da {}", "Pasticceria di {}", "Salão da {}", "Bei {}",
          "Doces da {}", "Atelier {}", "Boulangerie {}", "Cantinho da {}", "Peluquería {}", "Friseur {}",
          "Mundo da {}", "Confeitaria da {}", "Toko {}", "Магазин {}"]


@pytest.mark.parametrize("template", _SHOPS)
def test_shops_named_after_a_person_in_other_languages(template):
    for name in ("Maria", "Ana", "Marie", "Giulia", "Carlos", "Pierre"):
        assert detect_gender(template.format(name)).source == "business", template.format(name)


def test_words_that_are_shops_only_before_a_particle():
    assert g("Maria Casa") == "female" and g("Ana Mundo") == "female"


def test_rare_names_get_the_cross_validated_evidence():
    from server.utils.gender.detector import _lookup_token
    from server.utils.gender.lookup import load_table, rare_llr
    from server.utils.gender.tuning import load_tuning

    t = load_tuning()
    table = load_table()
    key = "somchai"  # a one-off WGND record, in no other source
    assert key not in table and rare_llr(key) is not None
    assert abs(_lookup_token(key, table)) == t.rare_llr


def test_tuning_was_chosen_by_cross_validation():
    """Every tunable value ships with the per-fold figures that chose it, inside the grid searched."""
    import json

    from server.utils.gender.tuning import TUNING_FILE, Tuning, load_tuning

    doc = json.load(open(TUNING_FILE, encoding="utf-8"))
    t = load_tuning()
    for field in Tuning._fields:
        assert getattr(t, field) in doc["grid"][field], field
    for key in ("cross_validated_clean", "cross_validated_username"):
        folds = doc[key]["errorCodedWithoutNA"]["folds"]
        assert len(folds) == doc["folds"] >= 3
    assert 0.5 < t.min_probability < 1.0
    # the rare-name evidence is measured on dev.csv (which holds none of the sources), per fold
    rare = doc["rare_llr_calibration"]
    assert len(rare["folds"]) == doc["folds"] and 0 < rare["right"] <= rare["names"]
    assert t.rare_llr == pytest.approx(math.log((rare["right"] + 1) / (rare["names"] - rare["right"] + 1)), abs=1e-3)


def test_cross_validation_choice_rule():
    """The rule keeps only points whose every training fold holds the wrong-answer bound, then
    takes the lowest mean errorCoded."""
    import argparse

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
    from gender_cv import choose, folds_of

    rows = [{"full_name": f"n{i}", "gender": "f" if i % 2 else "m"} for i in range(40)]
    fold = folds_of(rows, 4)
    assert sorted(fold.count(k) for k in range(4)) == [10, 10, 10, 10]
    truth = [r["gender"] for r in rows]
    cautious = ["u" if i % 4 == 0 else t for i, t in enumerate(truth)]  # 25 % unanswered, no errors
    bold = [("m" if t == "f" else "f") if i in (1, 2) else t for i, t in enumerate(truth)]  # two errors, no bias
    preds = {("cautious",): cautious, ("bold",): bold}
    args = argparse.Namespace(max_wrong=0.03, wrong_budget=0.025)
    assert choose(preds, truth, fold, {0, 1, 2, 3}, args) == ("cautious",)
    args = argparse.Namespace(max_wrong=0.2, wrong_budget=0.2)
    assert choose(preds, truth, fold, {0, 1, 2, 3}, args) == ("bold",)


def test_name_endings_only_for_names_in_no_source():
    from server.utils.gender.lookup import is_common_word, load_table, suffix_llr

    assert is_common_word("gaming") and suffix_llr("gaming") is None  # a common word is no name
    assert suffix_llr("abc") is None  # too short to have a known ending
    assert "munetoshi" not in load_table() and suffix_llr("munetoshi") is not None


@pytest.mark.parametrize("handle", ["brave.shadow", "its.brave.shadow.403", "dark.shadow_22", "golden.hour.99"])
def test_handles_of_common_words_have_no_given_name(handle):
    assert detect_gender("", handle).gender == "unknown"


@pytest.mark.parametrize("handle,expected", [("grace.hill", "female"), ("mark_stone", "male"),
                                             ("rose.garden", "female"), ("smith.anna", "female")])
def test_handles_with_names_that_are_also_words(handle, expected):
    assert g("", handle) == expected


def test_cross_validation_keeps_every_origin_under_the_bound():
    """A point whose gain comes from one language answered badly is not admissible."""
    import argparse

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
    from gender_cv import GROUP_MIN_ANSWERS, choose, folds_of

    n = 4 * GROUP_MIN_ANSWERS * 2
    rows = [{"full_name": f"n{i}", "gender": "f" if i % 2 else "m"} for i in range(n)]
    groups = ["a" if i < n // 2 else "b" for i in range(n)]
    truth = [r["gender"] for r in rows]
    fold = folds_of(rows, 4)
    # "bold" answers group b too, wrong one time in eight there (two per 16, both directions);
    # overall that stays under the wrong-answer budget, but group b is over 0.10
    bold = [t if groups[i] == "a" or i % 16 not in (1, 2) else ("m" if t == "f" else "f")
            for i, t in enumerate(truth)]
    cautious = [t if groups[i] == "a" else "u" for i, t in enumerate(truth)]
    preds = {("bold",): bold, ("cautious",): cautious}
    args = argparse.Namespace(max_wrong=0.2, wrong_budget=0.2, group_max_wrong=0.10, groups=groups)
    assert choose(preds, truth, fold, {0, 1, 2, 3}, args) == ("cautious",)
    args.groups = None
    assert choose(preds, truth, fold, {0, 1, 2, 3}, args) == ("bold",)
