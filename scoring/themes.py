"""Complaint themes: a brand's complaints and negative posts grouped by their embeddings.

The scorer keeps, for each complaint and negative post, the sentence embedding its model
computed anyway (``SentimentModel.predict_with_embeddings``: the mean of the encoder's
layer 3, L2-normalised, stored as float16). This module turns a window of them into
themes, names them, matches them to yesterday's themes and assigns new posts to them.
It is pure computation (numpy, scikit-learn, scipy); ``store/themes.py`` keeps the
themes and ``scoring/worker.py`` runs the nightly re-clustering and the assignment.

**Why not BERTopic.** BERTopic (with umap-learn and hdbscan) is the usual library, and
it was considered: it brings umap-learn, pynndescent, numba and llvmlite (about 60 MB,
a JIT compile on each process start) for a UMAP step whose cost on 100,000 documents
is minutes of 2 cores; its topic ids are renumbered on every fit, so stable ids need
our own matching anyway; and its naming is c-TF-IDF, which is 30 lines over
scikit-learn's ``CountVectorizer``. Here, on the same encoder's embeddings:

1. **Clustering**: k-means on the unit vectors (cosine), k = sqrt(n) clamped to
   [2, 60] (full k-means up to 20,000 posts, mini-batch beyond), then clusters whose
   centroids are closer than :data:`MERGE_COSINE` are merged and clusters under
   ``min_size`` posts are dissolved; their posts join the nearest theme they are close
   enough to, or none. ``bench/themes.py`` measures 100,000 posts.
2. **Naming**: class-based TF-IDF (c-TF-IDF, as BERTopic): each theme's posts as one
   document, 1-2 word phrases, English stop words, URLs, handles and the brand's own
   words removed; the top three phrases (a phrase whose words are already shown is
   skipped) make the name, e.g. ``refund · delayed · card``.
3. **Joining**: a post joins its nearest theme when its cosine to the centroid is at
   least the theme's ``threshold``: the cosine that 95% of the theme's own posts reach
   at clustering time (never below :data:`MIN_JOIN_COSINE`).
4. **Stable ids**: new clusters are matched to the brand's current themes by centroid
   cosine, one to one (the Hungarian method, ``scipy.optimize.linear_sum_assignment``),
   pairs at or above :data:`MATCH_COSINE`; a matched cluster keeps the old id, others
   get new ids, unmatched old themes are retired.

Which embedding: measured on the DEV part of the labelled complaints (242 complaints,
human categories), k-means with 9 clusters agreed with the categories at NMI 0.11 on the
pooled vector the model's heads read (fine-tuning made it say sentiment, not topic),
0.16 on the last layer's mean, 0.26-0.27 on layers 1-3's mean; layer 3 was taken.
``python -m scoring.themes_eval`` reports the agreement against a keyword baseline.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

# scikit-learn and scipy are imported where they are used: a scorer that starts (and
# every process that imports the worker) does not pay their 1-2 s import until it clusters.

__all__ = [
    "DIMENSIONS",
    "MATCH_COSINE",
    "MERGE_COSINE",
    "MIN_JOIN_COSINE",
    "FoundTheme",
    "decode",
    "encode",
    "find_themes",
    "key_phrases",
    "match_themes",
    "name_of",
    "nearest_theme",
    "stack",
]

#: The width of an embedding (the encoder's hidden size).
DIMENSIONS = 384
#: Clusters whose centroids are at least this close are one theme.
MERGE_COSINE = 0.95
#: A new cluster keeps an old theme's id when their centroids are at least this close.
MATCH_COSINE = 0.9
#: A post never joins a theme further than this, whatever the theme's own spread.
MIN_JOIN_COSINE = 0.6
#: The share of a theme's posts its join threshold admits (the rest are its outliers).
_JOIN_QUANTILE = 0.05
_MAX_K = 60
_FULL_KMEANS_UP_TO = 20_000
#: Posts per theme read for its name (the closest to its centroid): bounds naming's cost.
_NAMING_SAMPLE = 1_000

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"@\w+")
_HASH = re.compile(r"#")
_NOISE_WORDS = frozenset(
    {"rt", "amp", "http", "https", "com", "www", "im", "ive", "don", "didn", "doesn", "isn", "wasn",
     "won", "ve", "ll", "just", "got", "get", "like", "really", "xxxx", "xx",
     # Said in any post, about anything (seen naming the demo's themes "did", "yes"):
     "did", "does", "doing", "yes", "ok", "okay", "oh", "lol", "know", "think", "going", "want",
     "let", "say", "says", "way", "thing", "things"}
)  # fmt: skip


def encode(vector: np.ndarray) -> bytes:
    """An embedding as stored: float16 bytes (768 for 384 dimensions)."""
    return np.asarray(vector, dtype=np.float16).tobytes()


def decode(data: bytes) -> np.ndarray:
    """A stored embedding back as float32."""
    return np.frombuffer(data, dtype=np.float16).astype(np.float32)


def stack(stored: Sequence[bytes]) -> np.ndarray:
    """Stored embeddings as one float32 matrix, rows re-normalised (float16 rounds them)."""
    if not stored:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    matrix = np.frombuffer(b"".join(stored), dtype=np.float16).astype(np.float32)
    matrix = matrix.reshape(len(stored), -1)
    return _unit(matrix)


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit: np.ndarray = matrix / np.maximum(norms, 1e-12)
    return unit


@dataclass(frozen=True)
class FoundTheme:
    """One theme found by :func:`find_themes`.

    Attributes:
        members: Positions (in the input) of the posts in the theme, closest first.
        centroid: The unit mean of its posts' embeddings.
        threshold: The cosine to ``centroid`` a post needs to join (see the module).
        phrases: Its key phrases, most telling first.
        name: Its readable name, the phrases joined by `` · ``.
        representatives: Positions of its most central posts (near-duplicates skipped).
    """

    members: np.ndarray
    centroid: np.ndarray
    threshold: float
    phrases: tuple[str, ...]
    name: str
    representatives: tuple[int, ...]

    @property
    def size(self) -> int:
        """How many posts it holds."""
        return len(self.members)


def _k_for(n: int) -> int:
    return max(2, min(_MAX_K, round(math.sqrt(n))))


def _kmeans(matrix: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Cluster labels of unit rows by k-means (mini-batch above ``_FULL_KMEANS_UP_TO`` rows)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if len(matrix) <= _FULL_KMEANS_UP_TO:
        model: KMeans | MiniBatchKMeans = KMeans(k, n_init=3, random_state=seed)
    else:
        model = MiniBatchKMeans(
            k, n_init=3, batch_size=4096, random_state=seed, max_no_improvement=20
        )
    labels: np.ndarray = model.fit_predict(matrix)
    return labels


def _centroids(matrix: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    sums = np.zeros((count, matrix.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, matrix)
    return _unit(sums).astype(np.float32)


def _merged(centroids: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """For each cluster, the cluster it merges into (greedy, closest pairs first)."""
    parent = np.arange(len(centroids))

    def root(i: int) -> int:
        while parent[i] != i:
            i = int(parent[i])
        return i

    similar = centroids @ centroids.T
    pairs = np.argwhere(np.triu(similar >= MERGE_COSINE, k=1))
    for i, j in sorted(pairs.tolist(), key=lambda p: -similar[p[0], p[1]]):
        a, b = root(i), root(j)
        if a != b:
            big, small = (a, b) if sizes[a] >= sizes[b] else (b, a)
            parent[small] = big
    return np.array([root(i) for i in range(len(centroids))])


def nearest_theme(
    embeddings: np.ndarray, centroids: np.ndarray, thresholds: np.ndarray
) -> np.ndarray:
    """For each embedding, the row of the nearest centroid it is close enough to, else -1.

    ``thresholds`` holds each centroid's join cosine. One matrix product: the cost of
    assigning a scoring batch (``bench/themes.py``).
    """
    if len(embeddings) == 0 or len(centroids) == 0:
        return np.full(len(embeddings), -1, dtype=np.int64)
    similar = embeddings @ centroids.T
    best = similar.argmax(axis=1)
    close = similar[np.arange(len(embeddings)), best] >= thresholds[best]
    return np.where(close, best, -1).astype(np.int64)


def find_themes(
    embeddings: np.ndarray,
    texts: Sequence[str],
    *,
    min_size: int = 5,
    exclude: Iterable[str] = (),
    representatives: int = 3,
    seed: int = 0,
) -> tuple[list[FoundTheme], np.ndarray]:
    """Group posts into themes; returns the themes (largest first) and each post's theme.

    Args:
        embeddings: One unit row per post (float32; see :func:`stack`).
        texts: The posts' texts, in the same order (for names).
        min_size: The fewest posts a theme holds.
        exclude: Words never used in a name (the brand's own).
        representatives: How many central posts each theme names.
        seed: The k-means seed (the same data gives the same themes).

    Returns:
        The themes, and an array of each post's theme (its index in the list) or -1.
    """
    n = len(embeddings)
    if n != len(texts):
        raise ValueError(f"{n} embeddings but {len(texts)} texts")
    if n < max(min_size, 2):
        return [], np.full(n, -1, dtype=np.int64)
    matrix = _unit(np.asarray(embeddings, dtype=np.float32))
    k = min(_k_for(n), n)
    labels = _kmeans(matrix, k, seed)
    centroids = _centroids(matrix, labels, k)
    sizes = np.bincount(labels, minlength=k)
    into = _merged(centroids, sizes)
    labels = into[labels]
    kept = [c for c in np.unique(labels) if np.sum(labels == c) >= min_size]
    if not kept:
        return [], np.full(n, -1, dtype=np.int64)
    # Themes numbered 0..t-1; posts of dissolved clusters are judged by the join rule.
    renumber = {int(c): i for i, c in enumerate(kept)}
    theme_of = np.array([renumber.get(int(c), -1) for c in labels], dtype=np.int64)
    centroids = _centroids(matrix[theme_of >= 0], theme_of[theme_of >= 0], len(kept))
    own = np.einsum("ij,ij->i", matrix, centroids[np.maximum(theme_of, 0)])
    thresholds = np.array(
        [
            max(MIN_JOIN_COSINE, float(np.quantile(own[theme_of == t], _JOIN_QUANTILE)))
            for t in range(len(kept))
        ],
        dtype=np.float32,
    )
    theme_of = nearest_theme(matrix, centroids, thresholds)
    order = sorted(range(len(kept)), key=lambda t: -int(np.sum(theme_of == t)))
    order = [t for t in order if np.sum(theme_of == t) >= min_size]
    similar = matrix @ centroids.T
    groups: list[np.ndarray] = []
    for t in order:
        members = np.flatnonzero(theme_of == t)
        groups.append(members[np.argsort(-similar[members, t], kind="stable")])
    phrases = key_phrases(
        [[texts[i] for i in members[:_NAMING_SAMPLE]] for members in groups], exclude=exclude
    )
    themes: list[FoundTheme] = []
    final = np.full(n, -1, dtype=np.int64)
    for index, (t, members, words) in enumerate(zip(order, groups, phrases, strict=True)):
        final[members] = index
        themes.append(
            FoundTheme(
                members=members,
                centroid=centroids[t],
                threshold=float(thresholds[t]),
                phrases=words,
                name=name_of(words),
                representatives=_central(matrix, members, representatives),
            )
        )
    return themes, final


def _central(matrix: np.ndarray, members: np.ndarray, count: int) -> tuple[int, ...]:
    """The first ``count`` of ``members`` (closest first) that are not near-copies of each other."""
    chosen: list[int] = []
    for i in members:
        if all(float(matrix[i] @ matrix[j]) < 0.99 for j in chosen):
            chosen.append(int(i))
            if len(chosen) == count:
                break
    return tuple(chosen)


# The bundled airline corpus had words replaced by its publisher (as in scoring/complaints.py).
_CORPUS_ARTEFACTS = (
    ("Flight Booking Problems", "book"),
    ("Cancelled Flight", "cancel"),
    ("Late Flight", "late"),
)


def _clean(text: str) -> str:
    for artefact, word in _CORPUS_ARTEFACTS:
        text = text.replace(artefact, word)
    return _HASH.sub(" ", _HANDLE.sub(" ", _URL.sub(" ", text)))


def key_phrases(
    groups: Sequence[Sequence[str]], *, exclude: Iterable[str] = (), top: int = 3
) -> list[tuple[str, ...]]:
    """Each group's ``top`` key phrases by class-based TF-IDF (groups as the classes).

    A phrase is one or two words; English stop words, URLs, handles and ``exclude`` (any
    case; a multi-word entry excludes each of its words) never appear. A phrase whose
    words all show in the phrases already chosen is skipped, and a two-word phrase
    replaces a chosen word it contains ("refund" becomes "refund request").
    """
    if not groups:
        return []
    from scipy import sparse
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    excluded = {word for entry in exclude for word in re.findall(r"\w+", entry.casefold())}
    stop = list(ENGLISH_STOP_WORDS | _NOISE_WORDS | excluded)
    documents = [_clean(text) for group in groups for text in group]
    owner = np.repeat(np.arange(len(groups)), [len(group) for group in groups])
    vectorizer = CountVectorizer(
        ngram_range=(1, 2),
        stop_words=stop,
        token_pattern=r"(?u)\b[^\W\d_][^\W\d_]+\b",
        lowercase=True,
        min_df=2 if len(documents) >= 20 else 1,
    )
    try:
        counts = vectorizer.fit_transform(documents)
    except ValueError:  # no word left at all (emoji, links, stop words only)
        return [() for _ in groups]
    terms = vectorizer.get_feature_names_out()
    membership = sparse.csr_matrix(
        (np.ones(len(documents)), (owner, np.arange(len(documents)))),
        shape=(len(groups), len(documents)),
    )
    per_class = np.asarray((membership @ counts).todense(), dtype=np.float64)
    words = per_class.sum(axis=1, keepdims=True)
    tf = per_class / np.maximum(words, 1.0)
    average = float(words.mean())
    idf = np.log1p(average / np.maximum(per_class.sum(axis=0), 1.0))
    scores = tf * idf
    found: list[tuple[str, ...]] = []
    for row, group_scores in enumerate(scores):
        # A phrase said in one post only is that post's, not the theme's.
        said = per_class[row] >= min(2.0, max(1.0, len(groups[row]) / 10))
        ranked = [int(i) for i in np.argsort(-group_scores, kind="stable") if said[i]]
        found.append(_distinct([str(terms[i]) for i in ranked[: top * 8]], top))
    return found


def _distinct(ranked: Sequence[str], top: int) -> tuple[str, ...]:
    chosen: list[str] = []
    for phrase in ranked:
        words = phrase.split()
        shown = {word for each in chosen for word in each.split()}
        if set(words) <= shown:
            continue
        if len(words) > 1 and any(each in words for each in chosen):
            chosen = [each for each in chosen if each not in words]
        chosen.append(phrase)
        if len(chosen) == top:
            break
    return tuple(chosen)


def name_of(phrases: Sequence[str]) -> str:
    """A theme's readable name from its key phrases: ``refund · delayed · card``."""
    return " · ".join(phrases) if phrases else "unnamed"


def match_themes(
    new: np.ndarray, old: np.ndarray, *, threshold: float = MATCH_COSINE
) -> dict[int, int]:
    """Which new centroid (row of ``new``) continues which old one (row of ``old``).

    One to one, maximising the total cosine (Hungarian method); only pairs at or above
    ``threshold``. Unmatched new rows are new themes; unmatched old rows are retired.
    """
    if len(new) == 0 or len(old) == 0:
        return {}
    from scipy.optimize import linear_sum_assignment

    similar = _unit(new) @ _unit(old).T
    rows, cols = linear_sum_assignment(-similar)
    return {int(r): int(c) for r, c in zip(rows, cols, strict=True) if similar[r, c] >= threshold}
