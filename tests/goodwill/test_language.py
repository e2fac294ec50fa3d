"""Language of mentions: conservative detection (English unless confidently not), tags."""

from __future__ import annotations

import pytest

from goodwill.corpus import load_airline_tweets
from goodwill.language import detect_language, is_english, language_of

# A small sanity set of short posts written by hand for these tests (not a benchmark).
NOT_ENGLISH = {
    "es": "@Iberia mi vuelo salió con tres horas de retraso y nadie nos dio explicaciones",
    "fr": "Ils ont perdu ma valise et personne ne répond au téléphone",
    "de": "Der Kundenservice ist eine Katastrophe, niemand ruft zurück",
    "it": "Qualcuno sa se il volo per Roma parte in orario?",
    "pt": "Perderam a minha mala outra vez, que vergonha",
    "nl": "Mijn koffer is kwijt en de klantenservice reageert niet",
    "sv": "De har tappat bort min väska och kundtjänst svarar inte",
    "pl": "Zgubili mój bagaż i nikt nie odbiera telefonu",
    "tr": "Müşteri hizmetleri berbat, saatlerdir bekliyorum",
    "ru": "Потеряли мой багаж, и никто не отвечает",
    "ja": "荷物がなくなって誰も電話に出ない",
}


def test_real_english_tweets_are_english() -> None:
    """Every held-out airline tweet with enough letters is detected as English."""
    detected = {detect_language(t.text) for t in load_airline_tweets("held_out")}
    assert detected <= {"en", None}


@pytest.mark.parametrize(("lang", "text"), NOT_ENGLISH.items(), ids=NOT_ENGLISH.keys())
def test_short_posts_in_other_languages_are_marked(lang: str, text: str) -> None:
    """A short post clearly in another language comes back as that language."""
    assert detect_language(text) == lang


@pytest.mark.parametrize(
    "text",
    ["lol wtf", "ok cool", "Worst. Airline. Ever.", "Gracias", "Merci beaucoup", "Nope."],
)
def test_short_uncertain_text_is_english(text: str) -> None:
    """Too short to be sure of another language: English, not a guess."""
    assert detect_language(text) == "en"


def test_mixed_language_post_is_english() -> None:
    """Half English, half German: not confidently another language, so English."""
    assert detect_language("Ich liebe dieses Flugzeug but the food was bad") == "en"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "ok",
        "😀😀😡",
        "https://t.co/Ab12Cd34",
        "@united",
        "@united 👍 http://x.y/z",
        "!!",
    ],
)
def test_too_little_text_gives_none(text: str) -> None:
    """Fewer than three letters once links, handles and emoji are set aside: None."""
    assert detect_language(text) is None


def test_links_handles_and_emoji_do_not_count_as_words() -> None:
    """A Spanish post stays Spanish among English-looking handles, links and emoji."""
    text = "@AmericanAir @united 😡 https://t.co/Ab12 perdieron mi maleta otra vez, qué vergüenza"
    assert detect_language(text) == "es"


def test_html_is_read_as_its_text() -> None:
    """Tags are not words: a French post in HTML is French."""
    html = '<div class="post"><p>Ils ont perdu ma valise et personne ne r&eacute;pond</p></div>'
    assert detect_language(html) == "fr"


def test_bad_characters_never_raise() -> None:
    """Every code point (surrogates, controls, private use, unassigned) is read without error."""
    for start in range(0, 0x110000, 4096):
        result = detect_language("".join(map(chr, range(start, min(start + 4096, 0x110000)))))
        assert result is None or result.isalpha()
    assert detect_language("bad \udcff\udce9 text with a nul\x00 byte") == "en"


def test_hundred_kb_text_is_read_up_to_a_bound() -> None:
    """A 100 KB post gets an answer (from its first 10,000 characters)."""
    assert detect_language("my flight was delayed again and nobody helps. " * 2200) == "en"


@pytest.mark.parametrize("tag", ["en", "EN", "en-US", "en_GB", "eng", None, "und", "zxx", ""])
def test_english_unknown_and_no_language_tags_are_scored(tag: str | None) -> None:
    """English tags, None and tags naming no language all count as English."""
    assert is_english(tag)


@pytest.mark.parametrize("tag", ["es", "pt-BR", "ja", "zh-Hant", "ceb", "mis", "in", "iw"])
def test_tags_naming_another_language_are_not_english(tag: str) -> None:
    """A tag that names any other language is not English."""
    assert not is_english(tag)


def test_source_tag_wins_over_detection() -> None:
    """When the source names a language, it is taken (normalised) and not second-guessed."""
    english = "my flight was delayed again and nobody at the gate helps"
    assert language_of(english, "es") == "es"
    assert language_of(english, "pt-BR") == "pt"
    assert language_of(NOT_ENGLISH["es"], "en-US") == "en"


@pytest.mark.parametrize(("tag", "code"), [("in", "id"), ("iw", "he"), ("EN-gb", "en")])
def test_old_and_regional_source_tags_are_normalised(tag: str, code: str) -> None:
    """Twitter's old codes ("in", "iw") and region subtags come back as ISO 639-1."""
    assert language_of("whatever the text says", tag) == code


@pytest.mark.parametrize("tag", [None, "", "und", "zxx", "qme", "english"])
def test_missing_or_empty_source_tag_falls_back_to_detection(tag: str | None) -> None:
    """No usable tag from the source: the text's language is detected."""
    assert language_of(NOT_ENGLISH["fr"], tag) == "fr"
    assert language_of("😀", tag) is None
