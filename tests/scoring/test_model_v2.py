"""The second generation's parts: how it trains, what it serves in, how it reports per domain."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from config.settings import load_settings
from goodwill.errors import ScoringError
from scoring.categories import CATEGORIES, readable
from scoring.evaluate_domains import binary_scores, markdown, update_model_card
from scoring.sentiment import SentimentModel, native_bf16, resolve_precision
from scoring.train import DOMAINS_END, DOMAINS_START, _batches, _by_length
from tests.scoring.test_sentiment import COMPLAINTS, PRAISE


def _rows(lengths: list[int]) -> list[tuple[list[int], int, int]]:
    return [([7] * n, i % 3, -100) for i, n in enumerate(lengths)]


def test_batches_by_length_keep_every_row_and_pad_less() -> None:
    """Every row is trained on once; batches hold like lengths, so they are padded less."""
    lengths = [(i * 37) % 120 + 1 for i in range(1000)]
    rows = _rows(lengths)
    bucketed = _by_length(rows, 32, torch.Generator().manual_seed(3))
    assert sorted(map(id, bucketed)) == sorted(map(id, rows))
    plain = [ids.numel() for ids, *_ in _batches(rows, 32, 0)]
    grouped = [ids.numel() for ids, *_ in _batches(bucketed, 32, 0)]
    assert len(grouped) == len(plain)
    assert sum(grouped) < 0.7 * sum(plain)
    # Every batch but the last is full, and the short one is the last.
    sizes = [len(labels) for _, _, labels, _ in _batches(bucketed, 32, 0)]
    assert sizes[:-1] == [32] * (len(sizes) - 1) and sizes[-1] == 1000 % 32


def test_batches_by_length_are_seeded() -> None:
    """The same seed gives the same order; another seed another."""
    rows = _rows([(i * 11) % 90 + 1 for i in range(500)])

    def order(seed: int) -> list[int]:
        return [id(r) for r in _by_length(rows, 16, torch.Generator().manual_seed(seed))]

    assert order(1) == order(1) and order(1) != order(2)


def test_bf16_serving_names_itself_and_agrees_with_fp32(sentiment_model: SentimentModel) -> None:
    """bf16 adds +bf16 to the version and gives fp32's labels on plain texts."""
    half = SentimentModel.load(precision="bf16")
    assert half.version == sentiment_model.version + "+bf16"
    texts = COMPLAINTS + PRAISE
    ours = half.predict(texts)
    assert [s.label for s in ours] == [s.label for s in sentiment_model.predict(texts)]
    assert all(s.model_version == half.version for s in ours)
    # Labels do not move with the batch-mates: alone, or among all of them.
    alone = [half.predict([text])[0].label for text in texts]
    assert alone == [s.label for s in ours]


def test_auto_precision_is_bf16_only_where_the_cpu_has_it() -> None:
    """auto means bf16 on CPUs with native bf16, fp32 elsewhere; nonsense is refused clearly."""
    assert resolve_precision("auto") == ("bf16" if native_bf16() else "fp32")
    assert resolve_precision("int8") == "int8"
    with pytest.raises(ScoringError, match="Unknown model precision 'fp8'"):
        resolve_precision("fp8")  # type: ignore[arg-type]  # what a caller might pass


def test_the_served_precision_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """GOODWILL_MODEL_PRECISION picks it (auto by default); the older MODEL_INT8 still works."""
    monkeypatch.delenv("GOODWILL_MODEL_PRECISION", raising=False)
    monkeypatch.delenv("GOODWILL_MODEL_INT8", raising=False)
    assert load_settings().served_precision == "auto"
    monkeypatch.setenv("GOODWILL_MODEL_PRECISION", "fp32")
    assert load_settings().served_precision == "fp32"
    monkeypatch.setenv("GOODWILL_MODEL_INT8", "true")
    assert load_settings().served_precision == "int8"


def test_binary_scores_count_both_classes() -> None:
    """Precision, recall, F1 of the positive class and the macro-F1 of both, by hand."""
    gold = [True, True, True, False, False, False, False, False]
    said = [True, True, False, True, False, False, False, False]
    scores = binary_scores(gold, said)
    assert (scores.n, scores.positives) == (8, 3)
    assert scores.precision == pytest.approx(2 / 3) and scores.recall == pytest.approx(2 / 3)
    assert scores.macro_f1 == pytest.approx((2 / 3 + 0.8) / 2)


def _report() -> dict[str, object]:
    scores = binary_scores([True, False, True], [True, False, False]).__dict__
    row = {"domain": "brand tweets: retail", "texts": 3, "macro_f1": 0.5}
    return {
        "model": "goodwill-sentiment-2+abc",
        "baseline": "goodwill-sentiment-1+def",
        "split": "dev",
        "complaints": [
            {
                "industry": "all",
                "model": scores,
                "negative_is_complaint": scores,
                "baseline_rules": scores,
            }
        ],
        "sentiment": [{**row, "pos_vs_neg_accuracy": None, "baseline_macro_f1": 0.25}],
    }


def test_the_domain_report_in_markdown_and_in_the_card(tmp_path: Path) -> None:
    """The tables name the models and split, and land between the card's markers only."""
    text = markdown(_report())
    assert "`goodwill-sentiment-2+abc` (baseline `goodwill-sentiment-1+def`)" in text
    assert "| all | 3 | 2 | 1.000 / 0.500 / 0.667 | **0.667** | 0.667 | 0.667 |" in text
    assert "| brand tweets: retail | 3 | **0.500** | - | 0.250 | - |" in text
    card = tmp_path / "MODEL_CARD.md"
    card.write_text(f"# card\nbefore\n{DOMAINS_START}\nold\n{DOMAINS_END}\nafter\n")
    update_model_card(card, _report())
    written = card.read_text()
    assert written.startswith("# card\nbefore\n") and written.endswith(f"{DOMAINS_END}\nafter\n")
    assert "old" not in written and "brand tweets: retail" in written
    card.write_text("# a card without the section\n")
    with pytest.raises(ValueError, match="no <!-- domains:start -->"):
        update_model_card(card, _report())


def test_categories_read_as_words_and_older_ones_stay() -> None:
    """Each of the nine categories has words a person reads; an older rule's category is kept."""
    assert [readable(c) for c in CATEGORIES[:3]] == [
        "safety",
        "account or login",
        "billing, refund or pricing",
    ]
    assert all("_" not in readable(c) for c in CATEGORIES)
    assert readable("lost or damaged baggage") == "lost or damaged baggage"
