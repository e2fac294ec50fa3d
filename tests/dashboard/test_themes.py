"""The Themes page, and the complaints queue's theme filter and bulk assignment (AppTest)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from dashboard.themes import trend
from goodwill.models import Mention
from scoring.themes import encode
from store import Database, ThemeWrite
from tests.dashboard.conftest import Open, _go, _no_failure, _texts
from tests.factories import mention, sentiment

EVIL = "Refund [click here](https://evil.example) **now** <b>x</b>"


def _centroid(axis: int) -> bytes:
    vector = np.zeros(384, dtype=np.float32)
    vector[axis] = 1.0
    return encode(vector)


async def _score(store: Database, items: list[tuple[Mention, str, str | None]]) -> dict[str, Any]:
    """Store and score mentions (label, complaint category or None); their ids by text."""
    await store.mentions.upsert([item for item, _, _ in items])
    claim = await store.queue.claim("test", limit=1000, lease=timedelta(minutes=5))
    by_id = {item.external_id: (label, category) for item, label, category in items}
    found = {doc["_id"]: by_id[doc["external_id"]] for doc in claim.mentions}
    await store.queue.save(
        claim,
        {key: sentiment(label) for key, (label, _) in found.items()},
        {
            key: {"is_complaint": True, "kind": "complaint", "category": category, "reasons": []}
            for key, (_, category) in found.items()
            if category
        },
    )
    return {doc["text"]: doc["_id"] async for doc in store.collection("mentions").find({})}


async def _two_themes(store: Database) -> dict[str, Any]:
    """T1 "refund · card" (3 complaints and a neutral post this week, 2 posts the week
    before) and T2 "late · delivery" (1 complaint this week)."""
    ids = await _score(
        store,
        [
            (mention(EVIL, age=timedelta(days=1), url="https://example.com/p/1"), "negative", "billing_refund_pricing"),
            (mention("refund still missing", age=timedelta(days=2)), "negative", "billing_refund_pricing"),
            (mention("card charged twice", age=timedelta(hours=3)), "negative", "other"),
            (mention("refund, meh", age=timedelta(days=3)), "neutral", None),
            (mention("refund old 1", age=timedelta(days=9)), "negative", None),
            (mention("refund old 2", age=timedelta(days=10)), "negative", None),
            (mention("parcel late again", age=timedelta(days=1)), "negative", "delivery"),
            (mention("lovely", age=timedelta(days=1)), "positive", None),
        ],
    )  # fmt: skip
    refunds = [
        ids[text] for text in ids if "refund" in text or text in (EVIL, "card charged twice")
    ]
    await store.themes.save_clustering(
        "Acme",
        [
            ThemeWrite(None, "refund · card", ["refund", "card"], _centroid(0), 0.7,
                       members=refunds, representatives=[ids[EVIL], ids["refund still missing"]]),
            ThemeWrite(None, "late · [delivery](x)", ["late", "delivery"], _centroid(1), 0.7,
                       members=[ids["parcel late again"]], representatives=[ids["parcel late again"]]),
        ],
    )  # fmt: skip
    return ids


def test_trend_reads_as_an_arrow_and_a_percentage() -> None:
    """Up, down, flat, new and nothing."""
    assert [trend(6, 4), trend(2, 4), trend(3, 3), trend(2, 0), trend(0, 0)] == [
        "▲ +50%",
        "▼ -50%",
        "→ +0%",
        "▲ new",
        "–",
    ]


async def test_without_themes_the_page_says_why_and_when_they_come(
    store: Database, dashboard: Open
) -> None:
    """No blank page: the 50-post threshold, how many the brand has, the nightly run."""
    await _score(store, [(mention("bad", age=timedelta(hours=2)), "negative", None)])
    app = _go(dashboard(), "themes")
    _no_failure(app)
    [info] = app.info
    assert "No themes for Acme yet" in info.value
    assert "once a brand has 50 complaints or negative posts with embeddings" in info.value
    assert "Acme has 0 so far" in info.value and "every night after 00:00 UTC" in info.value
    assert not app.dataframe


async def test_themes_are_listed_with_trend_mixes_and_daily_complaints(
    store: Database, dashboard: Open
) -> None:
    """Largest first; posts now and before, complaints, categories, sentiment, a sparkline."""
    await _two_themes(store)
    app = _go(dashboard(), "themes")
    _no_failure(app)
    [table] = [df.value for df in app.dataframe]
    rows = {str(row["Id"]): row for row in table.to_dict("records")}
    assert list(rows) == ["T1", "T2"]
    t1 = rows["T1"]
    assert (t1["Theme"], t1["Key phrases"]) == ("refund · card", "refund, card")
    assert (t1["Posts"], t1["Before"], t1["Trend"], t1["Complaints"]) == (4, 2, "▲ +100%", 3)
    assert t1["Categories"] == "billing, refund or pricing 2 · other 1"
    assert t1["Sentiment"] == "negative 75% · neutral 25%"
    daily = list(t1["Complaints per day"])
    assert len(daily) == 7 and sum(daily) == 3  # a point per day of the window, oldest first
    assert (rows["T2"]["Trend"], rows["T2"]["Complaints"]) == ("▲ new", 1)
    assert any("2 active themes of Acme" in c.value for c in app.caption)
    app.selectbox(key="themes_window").select("All time").run()
    _no_failure(app)
    [table] = [df.value for df in app.dataframe]
    assert "Trend" not in table.columns and list(table["Posts"]) == [6, 1]  # no window before


async def test_a_chosen_theme_shows_its_posts_and_complaints_as_plain_text(
    store: Database, dashboard: Open
) -> None:
    """Representatives and complaints of the window, with links; nothing a post says is Markdown."""
    await _two_themes(store)
    app = _go(dashboard(), "themes")
    assert app.subheader[0].value == "refund · card"
    texts = _texts(app)
    assert texts[:2] == [EVIL, "refund still missing"]  # representatives, most central first
    assert texts[2:] == ["card charged twice", EVIL, "refund still missing"]  # newest first
    captions = " ".join(c.value for c in app.caption)
    assert "[open ↗](https://example.com/p/1)" in captions
    assert "evil.example" not in captions and "3 complaints, the 3 newest shown" in captions
    app.selectbox(key="themes_pick").set_value("T2").run()
    _no_failure(app)
    assert app.subheader[0].value == r"late · \[delivery\]\(x\)"
    assert _texts(app) == ["parcel late again", "parcel late again"]


async def test_the_queue_filters_by_theme_and_assigns_all_listed_at_once(
    store: Database, dashboard: Open
) -> None:
    """The theme box lists the brand's themes; Assign all listed assigns just those, as me."""
    ids = await _two_themes(store)
    app = _go(dashboard(), "complaints")
    app.text_input(key="goodwill_name").input("Ana").run()
    assert not [box for box in app.selectbox if box.key == "complaints_theme"]  # all brands
    app.selectbox(key="complaints_brand").set_value("Acme").run()
    theme_box = app.selectbox(key="complaints_theme")
    assert theme_box.options == ["All themes", "refund · card (T1)", "late · [delivery](x) (T2)"]
    theme_box.set_value("T1").run()
    _no_failure(app)
    assert sorted(_texts(app)) == sorted([EVIL, "refund still missing", "card charged twice"])
    app.text_input(key="complaints_bulk_to").input("Bo")
    app.button(key="complaints_bulk_apply").click().run()
    _no_failure(app)
    assert any("Done: 3 complaints assigned to Bo" in s.value for s in app.success)
    docs = {
        doc["_id"]: doc.get("handling") or {} async for doc in store.collection("mentions").find({})
    }
    for text in (EVIL, "refund still missing", "card charged twice"):
        handling = docs[ids[text]]
        assert handling["assignee"] == "Bo"
        assert [(s["action"], s["by"], s["value"]) for s in handling["history"]] == [
            ("assign", "Ana", "Bo")
        ]
    assert "assignee" not in docs[ids["parcel late again"]]
    assert "assigned to Bo" in " ".join(c.value for c in app.caption)
