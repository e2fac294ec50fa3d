"""Star ratings on the dashboard: shown on reviews, trended on the Overview, a signal beside the model."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.ratings import clash, stars
from store import Database
from tests.dashboard.conftest import Open, _go, _no_failure
from tests.dashboard.test_people import ingest, said
from tests.factories import mention, seed


def review(text: str, rating: float | None, age: timedelta) -> object:
    return mention(text, source="appstore", age=age, rating=rating)


def _headers(app: AppTest) -> dict[str, str]:
    """Each feed mention's header line, by the mention's text."""
    headers = [c.value for c in app.caption if "badge[" in c.value]
    return dict(zip([t.value for t in app.text], headers, strict=True))


def test_stars_read_as_stars_and_only_opposite_verdicts_clash() -> None:
    """2 stars read ★★☆☆☆ 2/5; 1-2 stars vs positive and 4-5 vs negative clash, neutral never."""
    assert stars(2.0) == "★★☆☆☆ 2/5"
    assert stars(None) is None
    assert clash(1.0, "positive") == "stars say negative, model says positive"
    assert clash(5.0, "negative", corrected=True) == "stars say positive, a person says negative"
    assert clash(3.0, "positive") is None
    assert clash(2.0, "neutral") is None
    assert clash(2.0, "negative") is None
    assert clash(None, "positive") is None


async def test_the_feed_shows_a_reviews_stars_and_marks_stars_that_contradict_the_model(
    store: Database, dashboard: Open
) -> None:
    """Stars on rated reviews; a 1-star review read positive is marked, an agreeing one is not."""
    await seed(
        store,
        [
            (mention("Terrible update", source="appstore", age=timedelta(hours=1), rating=1.0), "positive"),
            (mention("Love it", source="appstore", age=timedelta(hours=2), rating=5.0), "positive"),
            (mention("A tweet about Acme", age=timedelta(hours=3)), "negative"),
        ],
    )  # fmt: skip
    app = _go(dashboard(), "mentions")
    _no_failure(app)
    headers = _headers(app)
    assert "★☆☆☆☆ 1/5" in headers["Terrible update"]
    assert "stars say negative, model says positive" in headers["Terrible update"]
    assert "★★★★★ 5/5" in headers["Love it"]
    assert "stars say" not in headers["Love it"]
    assert "/5" not in headers["A tweet about Acme"]
    # A person's correction that agrees with the stars ends the mark; the stars stay.
    doc = await store.collection("mentions").find_one({"text": "Terrible update"})
    assert doc is not None
    await store.complaints.correct(str(doc["_id"]), sentiment="negative", by="ann")
    st.cache_data.clear()
    app = _go(dashboard(), "mentions")
    headers = _headers(app)
    assert "★☆☆☆☆ 1/5" in headers["Terrible update"]
    assert "stars say" not in headers["Terrible update"]


async def test_a_customers_story_shows_the_stars_of_their_reviews(
    store: Database, dashboard: Open
) -> None:
    """On the profile, a rated review shows its stars and the clash with the model's verdict."""
    profiles = await ingest(
        store,
        [
            (said("Crashes all the time", "jane", rating=2.0), "positive"),
            (said("Acme is fine", "jane", label_age=timedelta(days=2)), "neutral"),
        ],
    )
    jane = await profiles.get("replay:jane")
    app = dashboard()
    app.query_params["profile"] = jane["_id"]
    app.run()
    _no_failure(app)
    lines = [c.value for c in app.caption if "in the feed" in c.value]
    assert len(lines) == 2
    rated, plain = lines
    assert "★★☆☆☆ 2/5" in rated and "stars say negative, model says positive" in rated
    assert "/5" not in plain


async def test_the_overview_trends_average_stars_and_the_agreement_with_the_model(
    store: Database, dashboard: Open
) -> None:
    """Average stars, rated reviews, agreement and clashes from the roll-ups, with a line over time."""
    await seed(
        store,
        [
            (mention("a", source="appstore", age=timedelta(days=1), rating=5.0), "positive"),
            (mention("b", source="appstore", age=timedelta(days=1), rating=1.0), "positive"),
            (mention("c", source="appstore", age=timedelta(days=2), rating=4.0), "positive"),
            (mention("d", source="appstore", age=timedelta(days=2), rating=2.0), "negative"),
            (mention("e", age=timedelta(days=2)), "negative"),
        ],
    )  # fmt: skip
    # The dashboard reads the roll-ups, never the mentions: mentions gone, figures stay.
    await store.collection("mentions").delete_many({})
    app = dashboard().run()
    _no_failure(app)
    assert any(h.value == "Star ratings" for h in app.subheader)
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Average stars"] == "3.00 ★"
    assert metrics["Rated reviews"] == "4"
    assert metrics["Stars agree with the verdict"] == "75%"
    assert metrics["Stars and verdict opposite"] == "1"
    assert any("3 of 4 rated reviews" in c.value for c in app.caption)
    charts = [chart.proto.spec for chart in app.get("vega_lite_chart")]
    assert any("average stars" in str(chart) for chart in charts)


async def test_the_overview_shows_no_star_ratings_for_a_brand_without_rated_reviews(
    store: Database, dashboard: Open
) -> None:
    """No rated review in the window: no ratings section at all."""
    await seed(store, [(mention("plain", age=timedelta(days=1)), "positive")])
    app = dashboard().run()
    _no_failure(app)
    assert not any(h.value == "Star ratings" for h in app.subheader)
    assert "Average stars" not in {metric.label for metric in app.metric}
