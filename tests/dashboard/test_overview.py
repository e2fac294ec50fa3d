"""The Overview page beyond its totals: competitors, what changed and why, top terms."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from customers.profiles import ProfileStore
from dashboard import data, theme_data
from goodwill.models import Mention
from store import Database
from tests.dashboard.conftest import Open, _go, _no_failure
from tests.factories import mention, sentiment

_COMPLAINT = {"is_complaint": True, "kind": "complaint", "category": "delivery", "reasons": []}


async def _score(
    store: Database, items: list[tuple[Mention, str, bool]], verdict: dict[str, object] = _COMPLAINT
) -> None:
    """Store and score mentions as the scorer does: label, and complaint ``verdict`` when True."""
    await store.mentions.upsert([item for item, _, _ in items])
    claim = await store.queue.claim("test", limit=100_000, lease=timedelta(minutes=5))
    by_id = {item.external_id: (label, flagged) for item, label, flagged in items}
    found = {doc["_id"]: by_id[doc["external_id"]] for doc in claim.mentions}
    await store.queue.save(
        claim,
        {key: sentiment(label) for key, (label, _) in found.items()},
        {key: verdict for key, (_, flagged) in found.items() if flagged},
    )


def _frame(app: AppTest, column: str) -> list[dict[str, object]]:
    """The rows of the page's table that has ``column``."""
    [frame] = [df.value for df in app.dataframe if column in df.value.columns]
    return list(frame.to_dict("records"))


def _table(app: AppTest, index: int = 1) -> dict[str, dict[str, object]]:
    """The competitors table, by brand (``index``: kept for the callers, unused)."""
    return {str(row["Brand"]): row for row in _frame(app, "Brand")}


async def test_competitors_are_shown_side_by_side_with_their_share_of_voice(
    store: Database, dashboard: Open
) -> None:
    """Outside the watch list, every other brand is a competitor; shares add up to 100%."""
    await _score(
        store,
        [
            (mention("bad", brand="Acme"), "negative", True),
            (mention("good", brand="Acme"), "positive", False),
            (mention("fine", brand="Acme"), "neutral", False),
            (mention("great", brand="Globex"), "positive", False),
        ],
    )
    app = dashboard().run()
    _no_failure(app)
    table = _table(app, 1)
    assert list(table) == ["Acme", "Globex"]
    assert table["Acme"]["Share of voice"] == pytest.approx(0.75)
    assert table["Globex"]["Share of voice"] == pytest.approx(0.25)
    assert table["Acme"]["Complaints"] == 1
    assert table["Globex"]["Net sentiment"] == pytest.approx(1.0)
    assert any("every other brand in the database" in c.value for c in app.caption)
    assert {metric.label: metric.value for metric in app.metric}["Complaints"] == "1"


async def test_the_watch_list_names_the_competitors_even_those_without_mentions(
    store: Database, dashboard: Open, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A brand's listed competitors are compared (a silent one at 0); unlisted brands are not."""
    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text(
        '[[brand]]\nname = "Acme"\nquery = "acme"\ncompetitors = ["Initech"]\n'
        '[[brand.source]]\ntype = "replay"\n'
    )
    monkeypatch.setenv("GOODWILL_WATCHLIST", str(watchlist))
    await _score(
        store,
        [
            (mention("bad", brand="Acme"), "negative", False),
            (mention("great", brand="Globex"), "positive", False),
        ],
    )
    app = dashboard().run()
    _no_failure(app)
    table = _table(app, 1)
    assert list(table) == ["Acme", "Initech"]
    assert table["Initech"]["Mentions"] == 0
    assert table["Acme"]["Share of voice"] == pytest.approx(1.0)
    assert any("No scored mentions of Initech" in c.value for c in app.caption)


async def test_what_changed_compares_with_the_previous_window_and_shows_the_worst_posts(
    store: Database, dashboard: Open
) -> None:
    """Deltas against the previous 30 days; the worst day's most negative, most engaged post first."""
    worst = datetime.now(UTC) - timedelta(days=3)
    await _score(
        store,
        [
            (mention("Meh, delayed a bit", created_at=worst), "negative", False),
            (
                mention(
                    "Lost my luggage and nobody answers",
                    created_at=worst,
                    engagement={"likes": 900, "replies": 40},
                ),
                "negative",
                True,
            ),
            (mention("Lovely crew", age=timedelta(days=10)), "positive", False),
            (mention("Old gripe", age=timedelta(days=40)), "negative", False),
        ],
    )
    app = dashboard().run()
    _no_failure(app)
    deltas = {metric.label: (metric.value, metric.delta) for metric in app.metric}
    assert deltas["Mentions"] == ("3", "2")
    assert deltas["Negative"] == ("2", "1")
    assert deltas["Complaints"] == ("1", "1")
    bullets = " ".join(item.value for item in app.markdown)
    assert "**Mentions** 1 → 3 (+200%)" in bullets
    assert f"Most negative day: {worst:%Y-%m-%d}" in bullets
    posts = [element.value for element in app.text]
    assert posts[:2] == ["Lost my luggage and nobody answers", "Meh, delayed a bit"]
    assert any("engagement 940" in c.value for c in app.caption)


async def test_top_terms_are_the_words_that_rose_in_negative_mentions(
    store: Database, dashboard: Open
) -> None:
    """This window's negative mentions against the previous 30 days': risen words, counts, caption."""
    await _score(
        store,
        [(mention(f"The Acme luggage desk was closed {i}"), "negative", False) for i in range(4)]
        + [(mention(f"Acme luggage delayed again {i}", age=timedelta(days=40)), "negative", False)
           for i in range(2)]
        + [(mention(f"Acme refund refused {i}", age=timedelta(days=45)), "negative", False)
           for i in range(5)]
        + [(mention("Acme luggage desk was lovely"), "positive", False)],
    )  # fmt: skip
    app = dashboard().run()
    _no_failure(app)
    assert any(
        "latest 4 negative mentions of this window against the latest 7 of the previous 30 days"
        in c.value
        for c in app.caption
    )
    rows = {str(row["Term"]): row for row in _frame(app, "Rise")}
    assert (rows["desk"]["Now"], rows["desk"]["Before"]) == (4, 0)
    assert (rows["luggage"]["Now"], rows["luggage"]["Before"]) == (4, 2)
    assert float(rows["desk"]["Rise"]) > float(rows["luggage"]["Rise"]) > 1  # type: ignore[arg-type]
    assert {"refund", "the", "acme", "was"}.isdisjoint(rows)
    terms, now, before = data.top_terms("Acme", *_last_30_days(), ("Acme", "Globex"), 30)
    assert (now, before) == (4, 7) and terms[0][0] in {"desk", "closed"}


async def test_complaints_by_category_compare_with_the_previous_window(
    store: Database, dashboard: Open
) -> None:
    """Counts per category now and in the 30 days before, a change, and a chart per day."""
    await _score(
        store,
        [(mention(f"bag {i}", age=timedelta(days=i)), "negative", True) for i in range(2)]
        + [(mention("bag old", age=timedelta(days=35)), "negative", True)]
        + [(mention("not a complaint"), "negative", False)],
    )
    refund = {**_COMPLAINT, "category": "billing_refund_pricing"}
    await _score(store, [(mention("bag 2", age=timedelta(days=2)), "negative", True)], refund)
    app = dashboard().run()
    _no_failure(app)
    rows = {str(row["Category"]): row for row in _frame(app, "Category")}
    assert set(rows) == {"delivery", "billing, refund or pricing"}
    assert (rows["delivery"]["Complaints"], rows["delivery"]["Before"]) == (2, 1)
    billing = rows["billing, refund or pricing"]
    assert (billing["Complaints"], billing["Before"], billing["Change"]) == (1, 0, "new")
    assert any(h.value == "Complaints by category" for h in app.subheader)
    frame = theme_data.categories("Acme", *_last_30_days())
    assert int(frame["complaints"].sum()) == 3 and len(set(frame["day"])) == 3


def _last_30_days() -> tuple[date, date]:
    today = datetime.now(UTC).date()
    return today - timedelta(days=29), today


async def test_mentions_in_other_languages_count_in_volume_and_share_of_voice(
    store: Database, dashboard: Open
) -> None:
    """Two French posts the model cannot read: in Acme's volume and share, not in sentiment."""
    await _score(
        store,
        [
            (mention("bad", brand="Acme"), "negative", False),
            (mention("great", brand="Globex"), "positive", False),
        ],
    )
    await store.mentions.upsert(
        [mention("Acme est nul", brand="Acme"), mention("Acme, jamais plus", brand="Acme")]
    )
    claim = await store.queue.claim("test", limit=10, lease=timedelta(minutes=5))
    await store.queue.skip(claim, {doc["_id"]: {"language": "fr"} for doc in claim.mentions})
    app = dashboard().run()
    _no_failure(app)
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Mentions"] == "3" and metrics["Negative"] == "1"
    table = _table(app, 1)
    assert table["Acme"]["Share of voice"] == pytest.approx(0.75)
    assert any("Not scored (language): 2" in c.value and "fr 2" in c.value for c in app.caption)


async def test_a_correction_is_what_the_overview_counts(store: Database, dashboard: Open) -> None:
    await _score(store, [(mention("fine, I guess", brand="Acme"), "negative", True)])
    [doc] = [d async for d in store.collection("mentions").find({})]
    await store.complaints.correct(str(doc["_id"]), sentiment="neutral", complaint=False, by="ann")
    metrics = {metric.label: metric.value for metric in dashboard().run().metric}
    assert (metrics["Negative"], metrics["Neutral"], metrics["Complaints"]) == ("0", "1", "0")


async def test_a_correction_saved_on_the_mentions_page_moves_the_overview_and_advocacy_at_once(
    store: Database, dashboard: Open
) -> None:
    """No cached count outlives the correction, and the author's advocacy follows it."""
    await _score(store, [(mention("Acme lost my parcel again", brand="Acme"), "negative", True)])
    [doc] = [d async for d in store.collection("mentions").find({})]
    profiles = ProfileStore(store)
    profile_id = (await profiles.resolve([doc]))[doc["_id"]]
    await profiles.refresh([(profile_id, "Acme")])
    before = await store.collection("advocacy").find_one({"_id": f"{profile_id}|Acme"})
    assert before is not None and before["score"] < 0 and before["complaints"] == 1
    app = dashboard().run()
    assert {m.label: m.value for m in app.metric}["Complaints"] == "1"

    _go(app, "mentions")
    app.text_input(key="goodwill_name").input("Ana").run()
    mention_id = str(doc["_id"])
    app.button(key=f"correct_{mention_id}").click().run()
    app.selectbox(key=f"correct_sentiment_{mention_id}").select("positive")
    app.selectbox(key=f"correct_kind_{mention_id}").select("other")
    app.button(key=f"correct_save_{mention_id}").click().run()
    _no_failure(app)

    metrics = {m.label: m.value for m in _go(app, "").metric}
    assert (metrics["Complaints"], metrics["Negative"], metrics["Positive"]) == ("0", "0", "1")
    after = await store.collection("advocacy").find_one({"_id": f"{profile_id}|Acme"})
    assert after is not None and after["score"] > 0 and after["complaints"] == 0
    assert await store.collection("refresh_journal").count_documents({}) == 0


async def test_a_mention_the_model_cannot_read_says_not_scored_language_where_sentiment_shows(
    store: Database, dashboard: Open
) -> None:
    """The overview's note and the feed's badge name it the same way, with its language."""
    await store.mentions.upsert([mention("Acme est nul", brand="Acme")])
    claim = await store.queue.claim("test", limit=10, lease=timedelta(minutes=5))
    await store.queue.skip(claim, {doc["_id"]: {"language": "fr"} for doc in claim.mentions})
    app = dashboard().run()
    assert any("Not scored (language): 1" in c.value for c in app.caption)
    shown = " ".join(c.value for c in _go(app, "mentions").caption)
    assert "Not scored (language) · Not English (fr)" in shown
