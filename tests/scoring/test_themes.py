"""Complaint themes from the real model's embeddings: clustering, names, stable matching."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from scoring.sentiment import SentimentModel
from scoring.themes import (
    decode,
    encode,
    find_themes,
    key_phrases,
    match_themes,
    name_of,
    nearest_theme,
    stack,
)
from tests.scoring.theme_texts import TOPICS

TEXTS = [text for texts in TOPICS.values() for text in texts]
TOPIC_OF = [topic for topic, texts in TOPICS.items() for _ in texts]


@pytest.fixture(scope="module")
def embeddings(sentiment_model: SentimentModel) -> np.ndarray:
    """The three topics' texts embedded by the bundled model, as stored (float16) and read back."""
    _, vectors = sentiment_model.predict_with_embeddings(TEXTS)
    assert all(v is not None for v in vectors)
    return stack([encode(v) for v in vectors if v is not None])


def test_embeddings_are_unit_vectors_from_the_scoring_pass(sentiment_model: SentimentModel) -> None:
    """Each readable text gets a 384-wide unit vector with the same verdicts as predict; an empty one none."""
    texts = ["@acme lost my bag", "", "@acme refund please"]
    scores, vectors = sentiment_model.predict_with_embeddings(texts)
    assert [s.label for s in scores] == [s.label for s in sentiment_model.predict(texts)]
    assert vectors[1] is None
    for vector in (vectors[0], vectors[2]):
        assert vector is not None and vector.shape == (384,)
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-4
        assert len(encode(vector)) == 768  # float16
        assert np.allclose(decode(encode(vector)), vector, atol=1e-3)


def test_obviously_distinct_complaints_fall_into_separate_themes(embeddings: np.ndarray) -> None:
    """Lost luggage, refunds and a crashing app become themes that each hold one topic."""
    themes, theme_of = find_themes(embeddings, TEXTS, min_size=3, exclude=["acme"])
    assert len(themes) >= 3
    topics_by_theme = [Counter(TOPIC_OF[i] for i in theme.members) for theme in themes]
    for topics in topics_by_theme:
        assert len(topics) == 1, topics  # no theme mixes two topics
    assert {next(iter(topics)) for topics in topics_by_theme} == set(TOPICS)
    assert int(np.sum(theme_of >= 0)) >= len(TEXTS) * 0.7
    for index, theme in enumerate(themes):
        assert set(np.flatnonzero(theme_of == index)) == set(theme.members.tolist())
        assert theme.representatives[0] == theme.members[0]  # the most central first


def test_theme_names_are_their_key_words_without_the_brand(embeddings: np.ndarray) -> None:
    """Each theme's name holds its topic's key words, never the brand's name."""
    themes, _ = find_themes(embeddings, TEXTS, min_size=3, exclude=["acme"])
    expected = {"luggage": {"luggage", "baggage", "suitcase", "lost", "bag"},
                "refund": {"refund", "card", "charged"},
                "app": {"app", "crashes", "login", "log", "sign"}}  # fmt: skip
    for theme in themes:
        topic = TOPIC_OF[int(theme.members[0])]
        words = {word for phrase in theme.phrases for word in phrase.split()}
        assert words & expected[topic], (topic, theme.name)
        assert "acme" not in theme.name
        assert theme.name == " · ".join(theme.phrases)


def test_key_phrases_by_class_tf_idf() -> None:
    """Words common to every group rank below each group's own; a chosen word's pair replaces it."""
    groups = [
        ["refund request ignored again", "refund request still open", "my refund request"],
        ["lost baggage at the airport", "baggage lost again", "lost baggage claim"],
    ]
    first, second = key_phrases(groups, exclude=["Acme Corp"], top=2)
    assert first[0] == "refund request"
    assert "lost baggage" in second or "baggage" in second
    assert name_of(()) == "unnamed"
    assert key_phrases([["🙂", "http://x.y"]]) == [()]


def test_matching_keeps_old_ids_for_close_centroids_only() -> None:
    """Hungarian matching pairs each new centroid with its close old one; a far one is new."""
    rng = np.random.default_rng(1)
    old = rng.normal(size=(3, 384)).astype(np.float32)
    new = np.vstack([old[2] + 0.05 * rng.normal(size=384), old[0], rng.normal(size=384)])
    assert match_themes(new.astype(np.float32), old) == {0: 2, 1: 0}
    assert match_themes(new[:0], old) == {}


def test_nearest_theme_respects_each_themes_threshold() -> None:
    """A post joins the nearest centroid only when at least that theme's threshold close."""
    centroids = np.eye(2, 384, dtype=np.float32)
    posts = np.zeros((3, 384), dtype=np.float32)
    posts[0, 0] = 1.0
    posts[1, :2] = [0.6, 0.8]
    posts[2, 2] = 1.0
    assert nearest_theme(posts, centroids, np.array([0.9, 0.9])).tolist() == [0, -1, -1]
    assert nearest_theme(posts, centroids, np.array([0.9, 0.7])).tolist() == [0, 1, -1]
