"""How well complaint themes agree with human categories, against keyword baselines.

Run from the repository root::

    .venv/bin/python -m scoring.themes_eval [--split dev|test] [--min-size 3 5 8]

The labelled complaints of the v2 set (``scoring/complaint_data.py``: texts both readers
called a complaint, with the category both gave) are embedded by the bundled model as
the scorer embeds them and grouped by ``scoring.themes.find_themes``. Agreement with the
human categories: NMI (normalised mutual information, arithmetic mean) and purity (the
share of posts in their group's majority category). Posts a theme does not take count as
one group of their own ("unthemed"), so leaving posts out is not free; coverage says how
many were themed.

Baselines, on the same posts:

* ``keywords``: ``scoring.categories.category_of``, the word lists that give complaints
  their category in Goodwill (nine groups). Its lists were written and checked on DEV, so
  on DEV it is optimistic;
* ``tfidf-kmeans``: k-means over TF-IDF vectors of the texts (1-2 word terms, English
  stop words), with as many groups as the themes found, best of the same restarts.

Every choice (the embedding layer, ``min_size``) is made on DEV; TEST is read once, at the end.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["evaluate", "main", "purity"]


def purity(truth: Sequence[str], groups: Sequence[Any]) -> float:
    """The share of items in their group's most common true class."""
    by_group: dict[Any, Counter[str]] = {}
    for label, group in zip(truth, groups, strict=True):
        by_group.setdefault(group, Counter())[label] += 1
    return sum(c.most_common(1)[0][1] for c in by_group.values()) / max(1, len(truth))


def evaluate(split: str, min_sizes: Sequence[int]) -> list[dict[str, Any]]:
    """The rows of the report: themes at each ``min_size`` and the two baselines."""
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import normalized_mutual_info_score

    from scoring.categories import category_of
    from scoring.complaint_data import load_labelled
    from scoring.sentiment import SentimentModel
    from scoring.themes import find_themes

    items = [item for item in load_labelled([split]) if item.is_complaint and item.category]  # type: ignore[list-item]
    texts = [item.text for item in items]
    truth = [str(item.category) for item in items]
    _, vectors = SentimentModel.load().predict_with_embeddings(texts)
    usable = [i for i, v in enumerate(vectors) if v is not None]
    texts = [texts[i] for i in usable]
    truth = [truth[i] for i in usable]
    matrix = np.stack([v for v in vectors if v is not None]).astype(np.float32)

    def row(name: str, groups: Sequence[Any], covered: float = 1.0) -> dict[str, Any]:
        return {
            "method": name,
            "groups": len(set(groups) - {-1}),
            "covered": covered,
            "nmi": float(normalized_mutual_info_score(truth, groups)),
            "purity": purity(truth, groups),
        }

    rows = []
    found = 9
    for min_size in min_sizes:
        themes, theme_of = find_themes(matrix, texts, min_size=min_size)
        rows.append(
            row(f"themes, min_size {min_size}", theme_of.tolist(), float(np.mean(theme_of >= 0)))
        )
        found = max(2, len(themes))
    rows.append(row("keywords (category_of)", [category_of(t).category for t in texts]))
    tfidf = TfidfVectorizer(ngram_range=(1, 2), stop_words="english", min_df=2).fit_transform(texts)
    labels = KMeans(found, n_init=3, random_state=0).fit_predict(tfidf)
    rows.append(row(f"tfidf-kmeans, k {found}", labels.tolist()))
    return [{"split": split, "posts": len(texts), **r} for r in rows]


def main(argv: Sequence[str] | None = None) -> int:
    """Print the agreement table for one split."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--min-size", type=int, nargs="+", default=[5])
    args = parser.parse_args(argv)
    rows = evaluate(args.split, args.min_size)
    print(f"{rows[0]['posts']} labelled complaints of {args.split.upper()}, human categories:")
    print(f"{'method':28} {'groups':>6} {'themed':>7} {'NMI':>6} {'purity':>7}")
    for r in rows:
        print(
            f"{r['method']:28} {r['groups']:>6} {r['covered']:>7.0%} {r['nmi']:>6.3f} {r['purity']:>7.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
