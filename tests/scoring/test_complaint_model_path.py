"""The complaint verdict of a two-headed model, the brand-neutral categories and the v2 labelled set."""

from __future__ import annotations

from goodwill.models import Sentiment, SentimentLabel
from scoring.categories import category_of
from scoring.complaint_data import cohen_kappa, load_labelled, split_of
from scoring.complaints import MODEL_COMPLAINT_THRESHOLD, detect
from scoring.evaluate_domains import binary_scores


def _sentiment(kinds: dict[str, float]) -> Sentiment:
    return Sentiment(
        label=SentimentLabel.NEGATIVE,
        score=0.8,
        probabilities={
            SentimentLabel.NEGATIVE: 0.8,
            SentimentLabel.NEUTRAL: 0.15,
            SentimentLabel.POSITIVE: 0.05,
        },
        model_version="two-heads-test",
        kinds=kinds,
    )


def test_a_kind_head_decides_the_verdict_and_words_give_the_category() -> None:
    """With kind probabilities, the model's complaint probability is the score; words name the failure."""
    text = "my parcel never arrived and the tracking says delivered"
    verdict = detect(text, _sentiment({"complaint": 0.9, "negative_opinion": 0.05,
                                       "question": 0.03, "other": 0.02}))  # fmt: skip
    assert verdict.is_complaint and verdict.kind == "complaint"
    assert verdict.score == 0.9 and verdict.category == "delivery"
    assert any("the model: complaint 0.90" in reason for reason in verdict.reasons)
    assert any('"never arrived"' in reason for reason in verdict.reasons)


def test_below_the_threshold_the_most_likely_other_kind_is_given() -> None:
    """A post the model doubts is a complaint takes its next most likely kind, with no category."""
    low = MODEL_COMPLAINT_THRESHOLD - 0.2
    verdict = detect("their new pricing is a joke", _sentiment(
        {"complaint": low, "negative_opinion": 1 - low - 0.1, "question": 0.05, "other": 0.05}
    ))  # fmt: skip
    assert not verdict.is_complaint
    assert (verdict.kind, verdict.category) == ("negative_opinion", None)


def test_categories_are_brand_neutral() -> None:
    """The same lists name failures of banks, telcos, shops, apps and restaurants."""
    assert category_of("charged me twice and no refund").category == "billing_refund_pricing"
    assert category_of("internet has been down since Monday").category == "outage_or_bug"
    assert category_of("locked out of my account, password reset fails").category == (
        "account_or_login"
    )
    assert category_of("got food poisoning after the chicken").category == "safety"
    assert category_of("it was meh").category == "other"


def test_scores_and_agreement_arithmetic() -> None:
    """Precision, recall, F1, macro-F1 and Cohen's kappa on small worked examples."""
    scores = binary_scores([True, True, False, False], [True, False, True, False])
    assert (scores.precision, scores.recall, scores.f1, scores.macro_f1) == (0.5, 0.5, 0.5, 0.5)
    assert cohen_kappa(["a", "a", "b", "b"], ["a", "a", "b", "b"]) == 1.0
    assert cohen_kappa(["a", "b", "a", "b"], ["a", "a", "b", "b"]) == 0.0


def test_the_labelled_set_joins_its_texts_and_keeps_its_splits() -> None:
    """Every agreed label finds its text in the installed packages, on the side its key says."""
    items = list(load_labelled())
    assert len(items) > 3000
    assert all(item.text and item.split == split_of(item.key) for item in items)
    industries = {item.industry for item in items}
    assert {"travel", "software", "telecom", "retail", "banking"} <= industries
    assert all((item.category is None) == (item.kind != "complaint") for item in items)
