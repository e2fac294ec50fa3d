"""Benchmark: recomputing every profile's advocacy, streamed once vs one query per person.

Starts its own SecantusDB server (a separate process, as Goodwill runs it) on a free
port with a throwaway data directory, writes ``--profiles`` profiles and ``--mentions``
scored mentions (skewed: a few people write a lot; 5% skipped as another language)
straight into a fresh database, then measures, in the same run, each in its own
process so that peak memory is its own:

* ``ProfileStore.recompute_all``: one streamed read of the mentions (only the fields
  the formula needs), a few floats per (profile, brand) in memory, bulk writes;
* naive: for each profile x brand, ``find()`` its mentions and compute with the same
  formula (``customers.advocacy.compute``), then one ``update_one`` per profile.
  ``--naive-sample N`` runs it on N profiles only and extrapolates its time, and says so.

Then checks both gave the same score to every (profile, brand) the naive way computed.
Memory is the peak resident set of the measuring process (``ru_maxrss``), minus what
it held before the measured step (the interpreter, the model package's imports).

Run: ``.venv/bin/python -m bench.profiles [--profiles 100000] [--mentions 1000000]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database

from bench._db import embedded_server

DATABASE = "bench_profiles"
BRANDS = ("Acme", "Globex", "Initech")
_CHUNK = 10_000


def _rss_mib() -> float:
    """Peak resident set of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sentiment(rng: random.Random) -> tuple[dict[str, Any], bool]:
    label = rng.choices(("positive", "neutral", "negative"), weights=(5, 3, 2))[0]
    top = rng.uniform(0.5, 0.99)
    rest = 1 - top
    split = rng.uniform(0, rest)
    probabilities = dict(zip(("positive", "neutral", "negative"), (0.0, 0.0, 0.0), strict=True))
    probabilities[label] = top
    others = [name for name in probabilities if name != label]
    probabilities[others[0]], probabilities[others[1]] = split, rest - split
    sentiment = {
        "label": label,
        "score": top,
        "probabilities": probabilities,
        "model_version": "bench-1",
    }
    return sentiment, label == "negative" and rng.random() < 0.4


def _populate(uri: str, profiles: int, mentions: int, seed: int = 7) -> None:
    """Write the profiles and mentions, chunk by chunk (never all in memory)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri, tz_aware=True) as client:
        db: Database[dict[str, Any]] = client[DATABASE]
        for start in range(0, profiles, _CHUNK):
            batch = []
            for i in range(start, min(start + _CHUNK, profiles)):
                followers = int(rng.lognormvariate(5, 2.5))
                batch.append(
                    {
                        "_id": f"p_{i:016x}",
                        "display_name": f"Person {i}",
                        "identities": [
                            {
                                "key": f"bench:id:{i}",
                                "handle_key": f"bench:user{i}",
                                "source": "bench",
                                "followers": followers,
                            }
                        ],
                        "emails": [],
                        "counts": {},
                        "reach": 0,
                        "origin": "collected",
                        "created_at": now,
                    }
                )
            db.profiles.insert_many(batch, ordered=False)
        for start in range(0, mentions, _CHUNK):
            batch = []
            for i in range(start, min(start + _CHUNK, mentions)):
                person = int(profiles * rng.random() ** 2)  # skewed: low ids write a lot
                doc: dict[str, Any] = {
                    "source": "bench",
                    "external_id": str(i),
                    "brand": rng.choice(BRANDS),
                    "text": f"mention {i}",
                    "url": f"https://bench.test/{i}",
                    "created_at": now - timedelta(seconds=rng.uniform(0, 365 * 86_400)),
                    "author_key": f"bench:id:{person}",
                    "profile_id": f"p_{person:016x}",
                }
                if rng.random() < 0.05:
                    doc["score_state"] = "skipped"
                else:
                    sentiment, complaint = _sentiment(rng)
                    doc.update(
                        score_state="scored",
                        sentiment=sentiment,
                        complaint={"is_complaint": complaint},
                    )
                batch.append(doc)
            db.mentions.insert_many(batch, ordered=False)


async def _open(uri: str) -> Any:
    from store import Database

    return await Database.open(uri, DATABASE, timeout_ms=30_000)


async def _create_indexes(uri: str) -> None:
    store = await _open(uri)  # opening creates every collection's indexes, as Goodwill does
    await store.close()


async def _recompute(uri: str) -> dict[str, Any]:
    from customers.advocacy import as_of_for
    from customers.profiles import ProfileStore

    store = await _open(uri)
    try:
        before = _rss_mib()
        began = time.perf_counter()
        stats = await ProfileStore(store).recompute_all(as_of_for(datetime.now(UTC)))
        seconds = time.perf_counter() - began
    finally:
        await store.close()
    return {
        "seconds": seconds,
        "rss_before": before,
        "rss_peak": _rss_mib(),
        "mentions": stats.mentions,
        "pairs": stats.advocacy,
    }


def _naive(uri: str, sample: int | None) -> dict[str, Any]:
    """One find() per profile x brand, the same formula, one update per profile."""
    from customers.advocacy import AdvocacyParams, as_of_for, compute, signal_of
    from goodwill.models import utcnow

    params = AdvocacyParams()
    as_of = as_of_for(datetime.now(UTC))
    before = _rss_mib()
    began = time.perf_counter()
    people = 0
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri, tz_aware=True) as client:
        db: Database[dict[str, Any]] = client[DATABASE]
        cursor = db.profiles.find({}, {"identities.followers": 1})
        if sample is not None:
            cursor = cursor.limit(sample)
        for profile in cursor:
            reach = max(
                (int(i.get("followers") or 0) for i in profile.get("identities") or ()), default=0
            )
            scores: dict[str, float] = {}
            total = 0
            for brand in BRANDS:
                docs = list(db.mentions.find({"profile_id": profile["_id"], "brand": brand}))
                total += len(docs)
                scored = [(d["created_at"], s) for d in docs if (s := signal_of(d)) is not None]
                if scored:
                    scores[brand] = compute(scored, reach, as_of, params).score
            db.naive.update_one(
                {"_id": profile["_id"]},
                {
                    "$set": {
                        "scores": scores,
                        "mentions": total,
                        "reach": reach,
                        "updated_at": utcnow(),
                    }
                },
                upsert=True,
            )
            people += 1
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "rss_before": before, "rss_peak": _rss_mib(), "profiles": people}


def _child(step: str, uri: str, sample: int | None) -> dict[str, Any]:
    """Run one measured step in a fresh process; its report comes back as JSON."""
    command = [sys.executable, "-m", "bench.profiles", "--step", step, "--uri", uri]
    if sample is not None:
        command += ["--naive-sample", str(sample)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{step} failed:\n{done.stderr}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def _compare(uri: str) -> tuple[int, int]:
    """(pairs compared, pairs whose scores differ) between the naive and the streamed results."""
    compared = differ = 0
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri, tz_aware=True) as client:
        db: Database[dict[str, Any]] = client[DATABASE]
        streamed = {doc["_id"]: doc["score"] for doc in db.advocacy.find({}, {"score": 1})}
        for doc in db.naive.find({}):
            for brand in BRANDS:
                mine = streamed.get(f"{doc['_id']}|{brand}")
                theirs = doc["scores"].get(brand)
                if mine is None and theirs is None:
                    continue
                compared += 1
                differ += mine != theirs
    return compared, differ


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--mentions", type=int, default=1_000_000)
    parser.add_argument(
        "--naive-sample",
        type=int,
        default=None,
        help="Run the naive way on this many profiles and extrapolate its time (default: all).",
    )
    parser.add_argument("--step", choices=("recompute", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "recompute":
        print(json.dumps(asyncio.run(_recompute(args.uri))))
        return
    if args.step == "naive":
        print(json.dumps(_naive(args.uri, args.naive_sample)))
        return
    sample = args.naive_sample if args.naive_sample and args.naive_sample < args.profiles else None
    with embedded_server() as uri:
        began = time.perf_counter()
        asyncio.run(_create_indexes(uri))
        _populate(uri, args.profiles, args.mentions)
        setup = time.perf_counter() - began
        streamed = _child("recompute", uri, None)
        naive = _child("naive", uri, sample)
        compared, differ = _compare(uri)
    scale = args.profiles / naive["profiles"] if naive["profiles"] else 0.0
    print(
        f"{args.profiles:,} profiles, {args.mentions:,} mentions ({streamed['pairs']:,} profile x brand "
        f"scores), SecantusDB on 127.0.0.1, client and server on this machine; data written in {setup:.0f} s\n"
    )
    print("| how | wall time (s) | peak memory, increase (MiB) |\n| --- | ---: | ---: |")
    print(
        f"| ProfileStore.recompute_all: one streamed read, bulk writes | {streamed['seconds']:,.1f} | "
        f"{streamed['rss_peak'] - streamed['rss_before']:,.0f} |"
    )
    label = "naive: find() per profile x brand, update_one per profile"
    if sample is not None:
        label += f" (EXTRAPOLATED from {naive['profiles']:,} of {args.profiles:,} profiles, x{scale:,.1f})"
    print(
        f"| {label} | {naive['seconds'] * scale:,.1f} | {naive['rss_peak'] - naive['rss_before']:,.0f} |"
    )
    verdict = "identical" if differ == 0 else f"DIFFERENT on {differ:,}"
    print(
        f"\nScores compared on {compared:,} profile x brand pairs the naive way computed: {verdict}."
    )
    if differ:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
