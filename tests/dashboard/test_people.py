"""The Advocates and detractors and Profile pages, and deep links, run by AppTest on the real database."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from customers import exports
from customers.profiles import ProfileStore
from goodwill.models import Author, Mention, utcnow
from store import Database
from tests.dashboard.conftest import Open, _go, _no_failure
from tests.factories import advocacy_doc, mention, profile_doc, seed

_numbers = itertools.count(1)


def _all(app: AppTest, kind: str) -> list[Any]:
    """Every element of ``kind`` (widgets without a typed accessor: their label, click)."""
    return list(app.get(kind))


def said(text: str, who: str, *, label_age: timedelta = timedelta(days=1), **extra: Any) -> Mention:
    """A mention of Acme by the replay account ``who``."""
    number = next(_numbers)
    return Mention(
        source="replay",
        external_id=f"pp{number}",
        brand="Acme",
        text=f"{text} #{number}",
        url=f"https://replay.example/post/{number}",
        author=Author(id=f"id-{who}", handle=who, display_name=who.title(), followers=50),
        created_at=utcnow() - label_age,
        **extra,
    )


async def ingest(store: Database, items: list[tuple[Mention, str]]) -> ProfileStore:
    """Store and score mentions, resolve their authors and compute advocacy (as the scorer does)."""
    profiles = ProfileStore(store)
    await seed(store, items)
    docs = [doc async for doc in store.collection("mentions").find({"author_key": None})]
    resolved = await profiles.resolve(docs)
    brands = {doc["_id"]: doc["brand"] for doc in docs}
    await profiles.refresh({(pid, brands[mid]) for mid, pid in resolved.items()})
    return profiles


async def _board(store: Database, scores: list[float], **profile: Any) -> list[str]:
    """Profiles with advocacy docs for Acme at ``scores``; their ids in that order."""
    ids = []
    for number, score in enumerate(scores):
        doc = profile_doc(f"fan{number}", display_name=f"Fan {number}", **profile)
        await store.collection("profiles").insert_one(doc)
        tier = "advocate" if score >= 20 else "detractor" if score <= -20 else "neutral"
        await store.collection("advocacy").insert_one(
            advocacy_doc(doc["_id"], score=score, tier=tier, sources=["replay"])
        )
        ids.append(doc["_id"])
    return ids


def _open_people(app: AppTest) -> AppTest:
    _go(app, "advocates")
    _no_failure(app)
    return app


def _table(app: AppTest, kind: str) -> Any:
    """The advocates' table (the first) or the detractors' (the second: both lists shown)."""
    return app.dataframe[0 if kind == "advocate" else 1].value


# -- Advocates and detractors -------------------------------------------------------------


async def test_no_scores_says_how_advocates_appear(store: Database, dashboard: Open) -> None:
    """A brand with mentions but no scored authors explains when advocates appear."""
    await seed(store, [(mention("hello"), "positive")])
    app = _open_people(dashboard())
    assert any("No advocates yet" in info.value for info in app.info)
    assert any("scorer" in info.value for info in app.info)


async def test_leaderboards_sort_and_page(store: Database, dashboard: Open) -> None:
    """Advocates highest first, detractors lowest first, 20 a page, each row linking to its profile."""
    await seed(store, [(mention("hello"), "positive")])
    scores = [float(score) for score in range(21, 46)] + [-30.0, -80.0, -50.0, 0.0]
    ids = await _board(store, scores)
    app = _open_people(dashboard())
    advocates = _table(app, "advocate")
    assert list(advocates["Score"]) == [float(s) for s in range(45, 25, -1)]
    assert advocates["Profile"].iloc[0] == f"profile?profile={ids[24]}"
    assert list(_table(app, "detractor")["Score"]) == [-80.0, -50.0, -30.0]
    assert app.button(key="board_advocate_previous").disabled
    app.button(key="board_advocate_next").click().run()
    assert list(_table(app, "advocate")["Score"]) == [25.0, 24.0, 23.0, 22.0, 21.0]
    assert app.button(key="board_advocate_next").disabled
    assert any("21–25 of 25" in caption.value for caption in app.caption)


async def test_leaderboard_filters(store: Database, dashboard: Open) -> None:
    """Min score, max score and the source narrow the lists."""
    await seed(store, [(mention("hello"), "positive")])
    await _board(store, [30.0, 60.0, 90.0, -40.0, -90.0])
    app = _open_people(dashboard())
    app.number_input(key="board_min_score").set_value(50.0).run()
    assert list(_table(app, "advocate")["Score"]) == [90.0, 60.0]
    app.number_input(key="board_max_score").set_value(-50.0).run()
    assert list(_table(app, "detractor")["Score"]) == [-90.0]
    app.selectbox(key="board_source").set_value(None).run()
    _no_failure(app)


async def test_the_since_filter_keeps_recent_people(store: Database, dashboard: Open) -> None:
    """Last mention within 7 days keeps only people heard from lately."""
    await seed(store, [(mention("hello"), "positive")])
    ids = await _board(store, [40.0, 50.0])
    await store.collection("advocacy").update_one(
        {"profile_id": ids[1]}, {"$set": {"last_mention_at": utcnow() - timedelta(days=40)}}
    )
    app = _open_people(dashboard())
    app.selectbox(key="board_since").set_value("Last 7 days").run()
    assert list(_table(app, "advocate")["Score"]) == [40.0]


async def test_the_export_buttons_give_the_cli_export(
    store: Database, dashboard: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CSV and XLSX downloads hold exactly ``goodwill export advocates``'s bytes; no do-not-contact."""
    await seed(store, [(mention("hello"), "positive")])
    await _board(store, [30.0, 70.0])
    await _board(store, [95.0], do_not_contact=True)
    made: dict[str, Any] = {}
    real = MediaFileManager.add_deferred

    def record(self: MediaFileManager, callable_: Any, mimetype: Any, *args: Any, **kw: Any) -> Any:
        made[str(mimetype)] = callable_
        return real(self, callable_, mimetype, *args, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    app = _open_people(dashboard())
    assert [button.label for button in _all(app, "download_button")] == [
        "Download CSV",
        "Download XLSX",
    ]
    from config.settings import get_settings

    rows = await exports.advocate_rows(store, "Acme", settings=get_settings())
    assert [row.score for row in rows] == [70.0, 30.0]
    assert made["text/csv"]() == exports.csv_bytes(rows)
    xlsx = made["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]()
    assert xlsx[:2] == b"PK"
    assert len(xlsx) == len(exports.xlsx_bytes(rows))


# -- Profile ------------------------------------------------------------------------------


async def test_the_profile_shows_identities_mentions_and_scores(
    store: Database, dashboard: Open
) -> None:
    """A link ?profile=<id> opens the person: identities, advocacy, score chart, mentions."""
    profiles = await ingest(
        store,
        [
            (said("Acme is lovely", "jane", label_age=timedelta(days=3)), "positive"),
            (said("Acme rocks", "jane", label_age=timedelta(days=1)), "positive"),
            (said("meh", "other"), "negative"),
        ],
    )
    jane = await profiles.get("replay:jane")
    app = dashboard()
    app.query_params["profile"] = jane["_id"]
    app.run()
    _no_failure(app)
    assert app.title[0].value == "Profile"
    shown = " ".join(m.value for m in app.markdown)
    assert "@jane" in shown
    texts = [t.value for t in app.text]
    assert len(texts) == 2 and texts[0].startswith("Acme rocks")
    assert app.get("arrow_vega_lite_chart") or app.get("vega_lite_chart")
    assert any(frame.value["Brand"].tolist() == ["Acme"] for frame in app.dataframe)


async def test_a_typed_reference_is_taken_literally(store: Database, dashboard: Open) -> None:
    """An operator-looking reference finds no one and says so, without a failure."""
    await ingest(store, [(said("Acme", "jane"), "positive")])
    app = dashboard()
    _go(app, "profile")
    app.text_input(key="profile_ref").set_value('{"$ne": null}').run()
    _no_failure(app)
    assert "No profile matches" in app.warning[0].value
    app.text_input(key="profile_ref").set_value("replay:jane").run()
    _no_failure(app)
    assert any("Jane" in header.value for header in app.header)


async def test_merge_then_split_from_the_page(store: Database, dashboard: Open) -> None:
    """Merge asks for confirmation, writes the merge; Split restores the absorbed profile."""
    profiles = await ingest(
        store, [(said("Acme hi", "jane"), "positive"), (said("Acme yo", "janed"), "positive")]
    )
    jane, other = await profiles.get("replay:jane"), await profiles.get("replay:janed")
    app = dashboard()
    app.query_params["profile"] = jane["_id"]
    app.run()
    app.text_input(key="profile_merge_ref").set_value("replay:janed").run()
    app.button(key="profile_merge_find").click().run()
    assert await store.collection("merges").count_documents({}) == 0
    app.button(key="profile_merge_confirm").click().run()
    _no_failure(app)
    assert "Merged" in app.success[0].value
    merged = await profiles.get(jane["_id"])
    assert len(merged["identities"]) == 2
    assert await store.collection("profiles").find_one({"_id": other["_id"]}) is None
    record = (await profiles.merges.records(jane["_id"]))[0]
    assert record["by"] == "community manager"
    app.button(key=f"profile_split_{record['_id']}").click().run()
    _no_failure(app)
    assert "Split" in app.success[0].value
    assert (await profiles.get(other["_id"]))["_id"] == other["_id"]
    assert (await profiles.merges.records(jane["_id"]))[0]["split_at"] is not None


async def test_erasure_needs_the_typed_id(store: Database, dashboard: Open) -> None:
    """A wrong confirmation erases nothing; the profile id erases the profile and its advocacy."""
    profiles = await ingest(store, [(said("Acme hi", "jane"), "positive")])
    jane = await profiles.get("replay:jane")
    app = dashboard()
    app.query_params["profile"] = jane["_id"]
    app.run()
    form_input = next(t for t in app.text_input if t.label.startswith("Type the profile id"))
    form_input.set_value("p_wrong")
    submit = next(b for b in _all(app, "button") if b.label == "Erase this person")
    submit.click().run()
    assert any("does not match" in e.value for e in app.error)
    assert await store.collection("profiles").count_documents({}) == 1
    form_input = next(t for t in app.text_input if t.label.startswith("Type the profile id"))
    form_input.set_value(jane["_id"])
    next(b for b in _all(app, "button") if b.label == "Erase this person").click().run()
    assert not app.exception
    assert await store.collection("profiles").count_documents({}) == 0
    assert await store.collection("advocacy").count_documents({}) == 0
    assert await store.collection("erasures").count_documents({}) == 1
    assert any("Erased" in s.value for s in app.success)


# -- deep links ---------------------------------------------------------------------------


async def test_a_mention_link_shows_that_mention(store: Database, dashboard: Open) -> None:
    """/?mention=<id> opens the Mentions page on that one mention."""
    await seed(store, [(mention("the one"), "negative"), (mention("another"), "positive")])
    doc = await store.collection("mentions").find_one({"text": "the one"})
    assert doc is not None
    app = dashboard()
    app.query_params["mention"] = str(doc["_id"])
    app.run()
    _no_failure(app)
    assert app.title[0].value == "Mentions"
    assert [t.value for t in app.text] == ["the one"]
    app.query_params["mention"] = "not-an-id"
    app.run()
    assert "not here" in app.warning[0].value


async def test_a_brand_link_selects_the_brand(store: Database, dashboard: Open) -> None:
    """/?brand=Globex opens the Overview on Globex."""
    await seed(store, [(mention("a"), "positive"), (mention("b", brand="Globex"), "positive")])
    app = dashboard()
    app.query_params["brand"] = "Globex"
    app.run()
    _no_failure(app)
    assert app.selectbox(key="overview_brand").value == "Globex"
