"""The brand query language: parsing, canonical form, errors with columns, and local matching."""

from __future__ import annotations

import pytest

from config.query import Query, QuerySyntaxError
from tests.factories import mention


def matches(query: str, text: str, lang: str | None = None) -> bool:
    """Whether ``text`` matches ``query`` (parsed with the defaults)."""
    return Query.parse(query).matches_text(text, lang)


# --- parsing and precedence ----------------------------------------------------------


def test_and_binds_tighter_than_or() -> None:
    """`a b OR c` is `(a b) OR c`: c alone matches, a alone does not."""
    query = Query.parse("acme anvil OR globex")
    assert str(query) == '"acme" "anvil" OR "globex"'
    assert query.matches_text("globex")
    assert query.matches_text("acme anvil")
    assert not query.matches_text("acme")


def test_parentheses_override_precedence() -> None:
    """`a (b OR c)` needs a, then b or c."""
    query = Query.parse("acme (anvil OR rocket)")
    assert str(query) == '"acme" ("anvil" OR "rocket")'
    assert query.matches_text("acme rocket")
    assert not query.matches_text("rocket")


def test_exclusion_binds_tighter_than_and() -> None:
    """`-a b` is `(-a) AND b`."""
    query = Query.parse("-anvil acme")
    assert query.matches_text("acme")
    assert not query.matches_text("acme anvil")


def test_explicit_and_is_the_same_as_adjacency() -> None:
    """`a AND b` and `a b` are one query."""
    assert Query.parse("acme AND corp") == Query.parse("acme corp")


def test_not_keyword_is_the_same_as_a_leading_minus() -> None:
    """`NOT x` and `-x` are one query."""
    assert Query.parse("acme NOT anvil") == Query.parse("acme -anvil")


def test_lowercase_operators_are_words() -> None:
    """Only capital OR / AND / NOT are operators; `or` is a word to look for."""
    query = Query.parse("acme or globex")
    assert query.terms == ("acme", "or", "globex")
    assert not query.matches_text("acme globex")


def test_a_whole_group_can_be_excluded() -> None:
    """`-( ... )` excludes a mention that matches anything in the group."""
    query = Query.parse('acme -("acme anvils" OR rocket)')
    assert query.matches_text("acme is great")
    assert not query.matches_text("acme anvils are heavy")
    assert not query.matches_text("acme rocket")


def test_nested_parentheses() -> None:
    """Groups nest to any depth and redundant ones vanish from the canonical form."""
    query = Query.parse('((globex OR ("acme corp" -(anvil OR rocket)))) lang:en')
    assert str(query) == '("globex" OR "acme corp" -("anvil" OR "rocket")) lang:en'
    assert query.matches_text("ACME CORP news", "en")
    assert not query.matches_text("acme corp rocket", "en")
    assert query.matches_text("globex rocket", "en")


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ('("acme" OR "acme corp") -"acme anvils" lang:en', None),
        ("Acme   Corp", '"acme" "corp"'),
        ('"Acme   Corp"', '"acme corp"'),
        ("a OR (b OR c) d", '"a" OR ("b" OR "c") "d"'),
        ("(a b) c", '"a" "b" "c"'),
        ("-(a b) c", '-("a" "b") "c"'),
        ("NOT NOT a", '--"a"'),
        ("acme -LANG:FR", '"acme" -lang:fr'),
        ("acme lang:pt_BR", '"acme" lang:pt-br'),
    ],
)
def test_canonical_form_is_stable(written: str, canonical: str | None) -> None:
    """str(query) is a normal form that parses back to the same query."""
    query = Query.parse(written)
    assert str(query) == (canonical or written)
    assert Query.parse(str(query)) == query
    assert str(Query.parse(str(query))) == str(query)


def test_terms_are_the_positive_words_and_phrases() -> None:
    """terms lists what a source should search for: not excluded terms, no duplicates."""
    query = Query.parse('("acme" OR "Acme  Corp" OR ACME) -"acme anvils" -(rocket) lang:en')
    assert query.terms == ("acme", "Acme Corp")


def test_a_doubly_excluded_term_is_positive() -> None:
    """`-(-a)` looks for a, so a is a term."""
    assert Query.parse("-(-acme)").terms == ("acme",)


def test_equal_queries_hash_alike() -> None:
    """Queries with one canonical form are equal and interchangeable as keys."""
    assert {Query.parse("Acme OR globex"), Query.parse('"acme" OR "GLOBEX"')} == {
        Query.parse("acme OR globex")
    }
    assert Query.parse("acme") != Query.parse("acme", unknown_lang_passes=False)


def test_a_syntax_error_is_a_value_error() -> None:
    """QuerySyntaxError is a ValueError, so validators turn it into a validation error."""
    assert issubclass(QuerySyntaxError, ValueError)


@pytest.mark.parametrize(
    ("query", "column", "message"),
    [
        ("ab (acme", 4, "unclosed parenthesis opened at column 4"),
        ("(acme OR (b)", 1, "unclosed parenthesis opened at column 1"),
        ('"acme" OR "acme corp" OR', 23, "nothing after OR at column 23"),
        ("acme OR OR b", 6, "nothing after OR at column 6"),
        ("(acme OR) b", 7, "nothing after OR at column 7"),
        ("OR acme", 1, "nothing before OR at column 1"),
        ("acme AND", 6, "nothing after AND at column 6"),
        ("(AND acme)", 2, "nothing before AND at column 2"),
        ("acme NOT", 6, "nothing after NOT at column 6"),
        ("acme - anvil", 6, "nothing directly after - at column 6"),
        ("acme -", 6, "nothing directly after - at column 6"),
        ("(acme -)", 7, "nothing directly after - at column 7"),
        ('acme "anvil', 6, "unclosed quote opened at column 6"),
        ('acme ""', 6, "empty phrase"),
        ('acme "  "', 6, "empty phrase"),
        ("acme)", 5, "unexpected ) at column 5"),
        (") acme", 1, "unexpected ) at column 1"),
        ("acme ()", 6, "empty parentheses at column 6"),
        ("acme lang:", 6, "expected a language code"),
        ("acme lang:english1", 6, "expected a language code"),
        ("   ", 1, "the query is empty"),
        ("acme OR -globex", 9, "the alternative at column 9"),
        ("(acme OR lang:en) globex", None, None),  # valid: globex anchors every match
    ],
)
def test_syntax_errors_say_where_and_what_was_expected(
    query: str, column: int | None, message: str | None
) -> None:
    """Each syntax error names its column and what was expected."""
    if message is None:
        Query.parse(query)
        return
    with pytest.raises(QuerySyntaxError) as caught:
        Query.parse(query)
    assert message in str(caught.value)
    assert caught.value.column == column
    assert caught.value.expected


@pytest.mark.parametrize("query", ["-acme", "lang:en", "-(acme OR globex) lang:en", "-(-(-a))"])
def test_a_query_needs_a_term_that_is_not_excluded(query: str) -> None:
    """A query of exclusions and filters only would match nearly every post."""
    with pytest.raises(
        QuerySyntaxError, match="must include at least one term that is not excluded"
    ):
        Query.parse(query)


def test_every_alternative_needs_a_term_that_is_not_excluded() -> None:
    """`acme OR -globex` would let through every post without globex."""
    with pytest.raises(QuerySyntaxError, match="column 9") as caught:
        Query.parse("acme OR -globex")
    assert caught.value.column == 9


# --- matching ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["acme", "I love Acme!", "ACME!!!", "thanks @acme", "#acme rules", "Acme's service", "(acme)"],
)
def test_a_word_matches_at_word_boundaries(text: str) -> None:
    """A word matches whole, whatever the case, beside punctuation, @ or #."""
    assert matches("acme", text)


@pytest.mark.parametrize(
    "text", ["acmeville", "subacme", "@acme_support", "acme2", "acmé", "ACMEcorp"]
)
def test_a_word_does_not_match_inside_another(text: str) -> None:
    """A word does not match as part of a longer word (letters of any script, digits, _)."""
    assert not matches("acme", text)


def test_a_phrase_needs_its_words_in_order() -> None:
    """A phrase matches its words in order, across any whitespace, not apart or reversed."""
    assert matches('"acme corp"', "Acme\n  Corp rocks")
    assert not matches('"acme corp"', "corp acme")
    assert not matches('"acme corp"', "acme big corp")
    assert not matches('"acme corp"', "acme corporation")


def test_a_handle_or_hashtag_term_matches_only_itself() -> None:
    """`"@acme"` and `#acme` need the @ or #; `acme` accepts both."""
    assert matches('"@acme"', "ping @ACME please")
    assert not matches('"@acme"', "acme please")
    assert not matches('"@acme"', "mail me at bob@acme.com")
    assert matches("#acme", "so good #Acme")
    assert not matches("#acme", "so good acme")


def test_matching_folds_unicode_case() -> None:
    """Case folding is Unicode's: ß is ss, full-width letters are letters."""
    assert matches("straße", "STRASSE closed")
    assert matches("acme", "ＡＣＭＥ")
    assert matches('"café crème"', "CAFÉ CRÈME")


def test_typographic_apostrophes_match_straight_ones() -> None:
    """`acme's` matches `Acme’s` (right single quotation mark)."""  # noqa: RUF002 - the point of the test
    assert matches("acme's", "Acme’s new anvil")


def test_emoji_do_not_break_words() -> None:
    """An emoji beside a word is a boundary, and a phrase may hold one."""
    assert matches("acme", "acme🚀🚀")
    assert matches("acme", "🔥acme")
    assert matches('"love 🚀"', "I love 🚀 launches")


def test_an_excluded_phrase_wins_over_a_matching_term() -> None:
    """A mention with both the term and the excluded phrase is left out."""
    query = Query.parse('"acme" -"acme anvils"')
    assert not query.matches_text("acme is great but acme anvils broke")
    assert query.matches_text("acme is great, anvils too")


def test_title_and_text_both_count() -> None:
    """The term may be in the title or the text; an excluded one in either excludes."""
    query = Query.parse('acme -"acme anvils"')
    assert query.matches(mention("great product", title="Review of Acme"))
    assert query.matches(mention("Acme is great", title="A review"))
    assert not query.matches(mention("they are heavy", title="Acme anvils"))
    assert not query.matches(mention("nothing here", title="A review"))


def test_a_phrase_does_not_run_from_the_title_into_the_text() -> None:
    """Title `... acme` and text `corp ...` do not make the phrase "acme corp"."""
    assert not Query.parse('"acme corp"').matches(mention("corp news", title="About acme"))


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("en", True), ("EN", True), ("en-US", True), ("en_GB", True), ("fr", False), ("eng", False)],
)
def test_a_language_filter_matches_the_language_and_its_regions(lang: str, expected: bool) -> None:
    """`lang:en` takes en and any en-XX, nothing else."""
    assert matches("acme lang:en", "acme", lang) is expected


@pytest.mark.parametrize("lang", [None, "", "und"])
def test_an_unknown_language_passes_language_filters_by_default(lang: str | None) -> None:
    """A mention whose source gives no language is not dropped by `lang:` or `-lang:`."""
    assert matches("acme lang:en", "acme", lang)
    assert matches("acme -lang:fr", "acme", lang)


def test_an_unknown_language_can_be_made_to_fail_language_filters() -> None:
    """With unknown_lang_passes=False, unknown language fails `lang:` and `-lang:` alike."""
    strict = Query.parse("acme lang:en", unknown_lang_passes=False)
    assert not strict.matches_text("acme")
    assert strict.matches_text("acme", "en")
    assert not Query.parse("acme -lang:fr", unknown_lang_passes=False).matches_text("acme")


def test_a_negated_language_filter_excludes_that_language() -> None:
    """`-lang:fr` keeps English and drops French."""
    query = Query.parse("acme -lang:fr")
    assert query.matches_text("acme", "en")
    assert not query.matches_text("acme", "fr-CA")


def test_matches_reads_the_mentions_language() -> None:
    """matches() filters on Mention.lang."""
    query = Query.parse("acme lang:en")
    assert query.matches(mention("acme rocks", lang="en"))
    assert not query.matches(mention("acme est super", lang="fr"))
    assert query.matches(mention("acme rocks"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Acmeのアプリがまた落ちた", True),  # Japanese: no space after the brand
        ("我一直用Acme的耳机", True),  # Chinese
        ("ลองใช้Acmeแล้วดีมาก", True),  # Thai
        ("ｱｸﾒとAcmeｶｰﾄﾞ", True),  # half-width Katakana
        ("acmeville is lovely", False),  # Latin stays whole-word
        ("the acme_x build", False),
        ("Acmeville店で買った", False),  # a longer Latin word, even beside kana
    ],
)
def test_a_brand_is_found_in_scripts_written_without_spaces(text: str, expected: bool) -> None:
    assert Query.parse('"acme"').matches_text(text.casefold()) is expected


def test_a_term_in_an_unspaced_script_is_found_inside_its_text() -> None:
    query = Query.parse('"任天堂" OR "ソニー"')
    assert query.matches_text("昨日任天堂のゲームを買った")
    assert query.matches_text("ソニーストアで")
    assert not query.matches_text("今日は雨")


@pytest.mark.parametrize(
    "text",
    [
        "Acme는 정말 좋아요",  # Korean: a particle follows the brand without a space
        "요즘 Acme를 써요",
        "לAcme יש אפליקציה חדשה",  # Hebrew: a prefix precedes it
        "Доволен Acmeом",  # Russian: a case ending
        "ཨེཀ་མེAcmeཡག་པོ",  # Tibetan, written without spaces
    ],
)
def test_a_letter_of_another_script_ends_a_latin_term(text: str) -> None:
    """Beside a Latin term only Latin letters, digits and _ carry the word on; spaced
    scripts' own terms stay whole-word among their letters."""
    assert Query.parse("acme").matches_text(text)
    assert not Query.parse("acme").matches_text(text.replace("Acme", "Acmeville"))
    assert not Query.parse("acme").matches_text(text.replace("Acme", "Acme2"))
    assert Query.parse("삼성").matches_text("삼성 갤럭시 좋아요")
    assert not Query.parse("삼성").matches_text("삼성전자 주가")  # Hangul is spaced: whole word
    assert Query.parse("삼성").matches_text("我用삼성的手机")  # beside Han it still ends
    assert not Query.parse("яндекс").matches_text("Яндексовский сервис")
    assert Query.parse("яндекс").matches_text("我用Яндекс的地图")


def test_a_term_in_an_unspaced_script_is_found_beside_latin_letters() -> None:
    """A Han or kana term has no word boundary to find, whatever is beside it."""
    query = Query.parse('"任天堂" OR "ソニー"')
    assert query.matches_text("Switchの任天堂eShopで買った")
    assert query.matches_text("PlayStation5はソニーplusで")


@pytest.mark.parametrize("query", ["(" * 300 + "acme" + ")" * 300, "-" * 300 + "acme"])
def test_a_query_nested_too_deep_is_one_clear_error(query: str) -> None:
    """Hundreds of nested groups or negations: a message, not a RecursionError."""
    with pytest.raises(QuerySyntaxError, match="nests more than 50"):
        Query.parse(query)


def test_a_query_nested_to_the_limit_still_parses() -> None:
    assert Query.parse("(" * 50 + "acme" + ")" * 50).matches_text("acme")
