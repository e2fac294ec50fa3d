"""Sentiment throughput on 2 CPU threads: one text at a time vs sorted, padded batches.

Run from the repository root::

    python -m bench.sentiment [--texts 1000] [--threads 2]

It scores the first N tweets of the held-out split (real text of real length) with
the bundled model, (a) one call per text, then (b) all of them in one call that
sorts by length and pads each batch of 32 to its own longest text, and prints a
table. Both runs score every text; the labels of the two are compared too. Wall
time is what a user waits; CPU time (all threads of this process) is also shown
because it is steadier when other processes share the cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence

import torch

from goodwill.corpus import load_airline_tweets
from goodwill.models import Sentiment
from scoring.sentiment import SentimentModel


def _timed(run: Callable[[], list[Sentiment]]) -> tuple[float, float, list[Sentiment]]:
    """Wall seconds, CPU seconds of this process (all threads), and the results."""
    wall, cpu = time.perf_counter(), time.process_time()
    results = run()
    return time.perf_counter() - wall, time.process_time() - cpu, results


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.sentiment", description=__doc__)
    parser.add_argument("--texts", type=int, default=1000, help="held-out tweets to score")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    model = SentimentModel.load()
    texts = [t.text for t in load_airline_tweets("held_out")][: args.texts]
    words = [len(t.split()) for t in texts]
    model.predict(texts[:64], batch_size=args.batch_size)  # warm up kernels and allocator

    naive_s, naive_cpu, naive = _timed(lambda: [model.predict([text])[0] for text in texts])
    batched_s, batched_cpu, batched = _timed(
        lambda: model.predict(texts, batch_size=args.batch_size)
    )
    agree = sum(a.label == b.label for a, b in zip(naive, batched, strict=True))

    print(
        f"{model.version} on {torch.get_num_threads()} torch threads, "
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}"
    )
    print(
        f"{len(texts)} held-out tweets, {statistics.mean(words):.1f} words on average "
        f"(max {max(words)})"
    )
    print()
    print("| mode | wall s | texts/s | speed-up | CPU s | texts per CPU s |")
    print("|---|---|---|---|---|---|")
    rows = [
        ("(a) one text per call", naive_s, naive_cpu),
        (f"(b) sorted by length, padded per batch of {args.batch_size}", batched_s, batched_cpu),
    ]
    for name, wall, cpu in rows:
        print(
            f"| {name} | {wall:.2f} | {len(texts) / wall:.0f} | {naive_s / wall:.2f}x "
            f"| {cpu:.2f} | {len(texts) / cpu:.0f} |"
        )
    print()
    # Wall time suffers when other processes share the cores; CPU time much less so.
    print(f"load average over the last minute at the end: {os.getloadavg()[0]:.2f}")
    print(f"labels agree between (a) and (b): {agree}/{len(texts)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
