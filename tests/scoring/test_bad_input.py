"""Bad input for the sentiment model: each kind gets a defined result, and none fails a batch.

The rules are in scoring/sentiment.py's docstring; these tests pin each one down with
the real bundled model.
"""

from __future__ import annotations

import pytest

from goodwill.corpus import load_airline_tweets
from goodwill.errors import ScoringError
from goodwill.models import Sentiment, SentimentLabel
from scoring.sentiment import SentimentModel, _model_text

NEG, NEU, POS = SentimentLabel.NEGATIVE, SentimentLabel.NEUTRAL, SentimentLabel.POSITIVE

PRAISE = "@JetBlue thank you so much, the crew was wonderful and we landed early!"
COMPLAINT = "@united you lost my bag AGAIN and nobody at the desk will help. Worst airline ever."
HUNDRED_KB = "@united my flight was delayed again and nobody at the gate helps. " * 1600
NOTHING_TO_READ = {
    "empty": "",
    "whitespace": " \t\n\u00a0\u3000 ",
    "emoji": "😡😡😡 🛫✈️👍🏽",
    "url": "https://t.co/Ab12Cd34",
    "handles and links": "@united @JetBlue http://example.com/a?b=c www.example.org",
    "punctuation": "?!?! ... :-( ----",
    "lone surrogate": "\udcff",
    "empty HTML": "<p><br/></p><!-- nothing --><script>alert('worst airline');</script>",
}


def _is_nothing_to_read(result: Sentiment, model: SentimentModel) -> bool:
    return (
        result.label is NEU
        and result.score == 1.0
        and result.probabilities == {NEG: 0.0, NEU: 1.0, POS: 0.0}
        and result.model_version == model.version
    )


def _same_scores(a: Sentiment, b: Sentiment) -> bool:
    return a.label is b.label and all(
        a.probabilities[label] == pytest.approx(b.probabilities[label], abs=1e-4)
        for label in SentimentLabel
    )


@pytest.mark.parametrize("text", NOTHING_TO_READ.values(), ids=NOTHING_TO_READ.keys())
def test_text_with_nothing_to_read_is_neutral_with_certainty(
    sentiment_model: SentimentModel, text: str
) -> None:
    """Empty, blank, emoji-only, link-only, punctuation-only text is neutral, score 1.0."""
    [result] = sentiment_model.predict([text])
    assert _is_nothing_to_read(result, sentiment_model)


def test_words_beside_emoji_and_links_are_still_read(sentiment_model: SentimentModel) -> None:
    """The nothing-to-read rule needs no letter at all: one word among emoji goes to the model."""
    [result] = sentiment_model.predict(["😡😡 https://t.co/x worst 😡"])
    assert not _is_nothing_to_read(result, sentiment_model)
    assert result.label is NEG


def test_hundred_kb_text_scores_as_its_beginning(sentiment_model: SentimentModel) -> None:
    """A 100 KB post is cut, not fatal: it scores as its first 128 tokens do."""
    assert len(HUNDRED_KB.encode()) > 100_000
    big, beginning = sentiment_model.predict([HUNDRED_KB, HUNDRED_KB[:2_000]])
    assert _same_scores(big, beginning)
    assert big.label is NEG


def test_hundred_kb_without_spaces_is_scored(sentiment_model: SentimentModel) -> None:
    """One 100 KB 'word' (no whitespace at all) gets a valid verdict."""
    [result] = sentiment_model.predict(["a" * 100_000])
    assert result.label in SentimentLabel


def test_words_after_a_run_of_whitespace_are_read(sentiment_model: SentimentModel) -> None:
    """Whitespace is collapsed before the text is cut, so 50 K spaces do not hide the words."""
    [padded, plain] = sentiment_model.predict([" " * 50_000 + COMPLAINT, COMPLAINT])
    assert _same_scores(padded, plain)


def test_lone_surrogates_are_dropped(sentiment_model: SentimentModel) -> None:
    """Text decoded from bad UTF-8 (lone surrogates) scores as the text without them."""
    broken, clean = sentiment_model.predict(
        [f"{PRAISE[:20]}\udcff\udce9{PRAISE[20:]}\ud800", PRAISE]
    )
    assert _same_scores(broken, clean)


def test_a_valid_surrogate_pair_becomes_its_character() -> None:
    """A surrogate pair left in a str (UTF-16 JSON) is joined into the character it encodes."""
    assert _model_text("@JetBlue \ud83d\ude00 thanks") == "@JetBlue \U0001f600 thanks"


def test_html_is_read_as_its_text(sentiment_model: SentimentModel) -> None:
    """Tags, comments, scripts and styles are removed and entities decoded before scoring."""
    html = (
        "<div class='post'><p>Thank you so much, the crew was <b>wonderful</b> &amp; we "
        "landed early!</p><!-- worst awful --><style>p {color: red}</style>"
        "<script>var s = 'worst airline ever, lost my bag';</script></div>"
    )
    text = "Thank you so much, the crew was wonderful & we landed early!"
    assert _model_text(html) == text
    from_html, plain = sentiment_model.predict([html, text])
    assert _same_scores(from_html, plain)
    assert from_html.label is POS


def test_text_without_a_tag_is_not_taken_for_html() -> None:
    """'<3', 'a < b' and '&amp;' in a tweet stay as written (the model was trained on them)."""
    for tweet in ["@united I <3 you", "@united 2 < 3 > 1", "@united food &amp; drinks"]:
        assert _model_text(tweet) == tweet


def test_held_out_tweets_reach_the_model_unchanged() -> None:
    """The bad-input rules change no real tweet, so the held-out figures still hold."""
    changed = [t.text for t in load_airline_tweets("held_out") if _model_text(t.text) != t.text]
    assert changed == []


@pytest.mark.parametrize("item", [None, b"bytes, not text", 42], ids=["None", "bytes", "int"])
def test_an_item_that_is_not_a_str_raises_scoring_error_naming_it(
    sentiment_model: SentimentModel, item: object
) -> None:
    """A None (or any non-str) among texts is a caller's bug: ScoringError naming its position."""
    texts: list[object] = [PRAISE, COMPLAINT, item]
    with pytest.raises(ScoringError, match=rf"item 2 is {type(item).__name__}") as caught:
        sentiment_model.predict(texts)  # type: ignore[arg-type]
    assert "Pass ''" in str(caught.value)


def test_one_bad_text_never_fails_the_other_31(sentiment_model: SentimentModel) -> None:
    """A batch of 32 mixing every kind of bad text scores all 32; the good ones as if alone."""
    bad = [
        *NOTHING_TO_READ.values(),
        HUNDRED_KB,
        "a" * 100_000,
        "<p>Great <i>service</i></p>",
        "nul\x00 and controls \x07\x1b[31m",
        "noncharacters \uffff \ufffe \U0010ffff",
        "combining e\u0301" * 500,
        "right-to-left \u202e override \u200b\u200d zero-width",
        "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ",
    ]
    good = [f"{PRAISE} ({n})" if n % 2 else f"{COMPLAINT} ({n})" for n in range(32 - len(bad))]
    texts = [text for pair in zip(good, bad, strict=False) for text in pair]
    texts += good[len(bad) :]
    assert len(texts) == 32
    results = sentiment_model.predict(texts, batch_size=32)
    assert len(results) == 32
    assert all(r.label in SentimentLabel and 0.0 <= r.score <= 1.0 for r in results)
    alone = {text: sentiment_model.predict([text])[0] for text in good}
    for text, result in zip(texts, results, strict=True):
        if text in alone:
            assert _same_scores(result, alone[text])
