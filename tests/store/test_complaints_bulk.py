"""The complaints queue by theme, and complaints assigned many at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from goodwill.models import utcnow
from scoring.themes import encode
from store import Database, ThemeWrite
from tests.factories import mention, seed


async def _complaints(store: Database, texts: list[str], brand: str = "Acme") -> dict[str, Any]:
    """Seed ``texts`` as open complaints of ``brand``; their ids by text."""
    await seed(
        store,
        [(mention(text, brand=brand, age=timedelta(hours=i + 1)), "negative") for i, text in enumerate(texts)],
    )  # fmt: skip
    await store.collection("mentions").update_many(
        {"text": {"$in": texts}},
        {"$set": {"complaint": {"is_complaint": True, "category": "delivery"}, "counted.complaint": True}},
    )  # fmt: skip
    return {
        doc["text"]: doc["_id"]
        async for doc in store.collection("mentions").find({"text": {"$in": texts}})
    }


def _centroid() -> bytes:
    vector = np.zeros(384, dtype=np.float32)
    vector[0] = 1.0
    return encode(vector)


async def test_the_queue_filters_by_theme_of_a_brand(store: Database) -> None:
    """Only the theme's open complaints; a theme without its brand is refused."""
    ids = await _complaints(store, ["late parcel", "lost parcel", "rude agent"])
    await store.themes.save_clustering(
        "Acme",
        [ThemeWrite(None, "parcel", ["parcel"], _centroid(), 0.7,
                    members=[ids["late parcel"], ids["lost parcel"]])],
    )  # fmt: skip
    queue = await store.complaints.queue("Acme", "all", theme_id="T1")
    assert [doc["text"] for doc in queue] == ["late parcel", "lost parcel"]
    assert await store.complaints.queue("Acme", "all", theme_id="T9") == []
    with pytest.raises(ValueError, match="choose the brand"):
        await store.complaints.queue(None, "all", theme_id="T1")


async def test_a_themes_queue_keeps_the_views_orders_and_pages(store: Database) -> None:
    """Within a theme: unassigned, mine, overdue, resolved left out, newest first, paged."""
    ids = await _complaints(store, ["t1", "t2", "t3", "t4", "outside"])
    await store.collection("mentions").update_one(
        {"text": "t4"}, {"$set": {"created_at": utcnow() - timedelta(days=2)}}
    )
    members = [ids[text] for text in ("t1", "t2", "t3", "t4")]
    await store.themes.save_clustering(
        "Acme", [ThemeWrite(None, "t", ["t"], _centroid(), 0.7, members=members)]
    )
    await store.complaints.handle(str(ids["t2"]), "assign", "Ana", "Bo")
    await store.complaints.handle(str(ids["t3"]), "resolve", "Ana")

    async def texts(view: str = "all", **options: Any) -> list[str]:
        found = await store.complaints.queue("Acme", view, theme_id="T1", **options)
        return [doc["text"] for doc in found]

    assert await texts() == ["t1", "t2", "t4"]
    assert await texts(skip=1, limit=1) == ["t2"]
    assert await texts("unassigned") == ["t1", "t4"]
    assert await texts("mine", by="Bo") == ["t2"]
    assert await texts("overdue") == ["t4"]
    assert await texts(order="value") == ["t4", "t2", "t1"]  # no values: longest waiting first


async def test_assign_many_assigns_open_complaints_once_and_records_who(store: Database) -> None:
    """One update: open complaints get the assignee and a history entry; resolved and
    already-assigned ones, and non-complaints, are left as they are."""
    ids = await _complaints(store, ["a", "b", "done", "hers"])
    await seed(store, [(mention("praise"), "positive")])
    praise = await store.collection("mentions").find_one({"text": "praise"})
    assert praise is not None
    await store.complaints.handle(str(ids["done"]), "resolve", "Ana")
    await store.complaints.handle(str(ids["hers"]), "assign", "Ana", "Bo")
    changed = await store.complaints.assign_many(
        [str(ids["a"]), ids["b"], ids["done"], ids["hers"], praise["_id"]], "Bo", "Ana"
    )
    assert changed == 2
    docs = {doc["text"]: doc async for doc in store.collection("mentions").find({})}
    for text in ("a", "b"):
        handling = docs[text]["handling"]
        assert handling["assignee"] == "Bo"
        [step] = handling["history"]
        assert (step["action"], step["by"], step["value"]) == ("assign", "Ana", "Bo")
    assert "assignee" not in docs["done"]["handling"]
    assert len(docs["hers"]["handling"]["history"]) == 1
    assert "handling" not in docs["praise"]
    assert await store.complaints.assign_many([ids["a"]], "Bo", "Ana") == 0  # already hers


async def test_assign_many_refuses_bad_requests_and_writes_nothing(store: Database) -> None:
    """No name, no assignee, a malformed id or too many ids: ValueError, nothing written."""
    ids = await _complaints(store, ["a"])
    with pytest.raises(ValueError, match="name of who"):
        await store.complaints.assign_many([ids["a"]], "Bo", " ")
    with pytest.raises(ValueError, match="needs a value"):
        await store.complaints.assign_many([ids["a"]], "", "Ana")
    with pytest.raises(ValueError, match="not a mention id"):
        await store.complaints.assign_many(["nope"], "Bo", "Ana")
    with pytest.raises(ValueError, match="At most 500"):
        await store.complaints.assign_many([f"{n:024x}" for n in range(501)], "Bo", "Ana")
    doc = await store.collection("mentions").find_one({"text": "a"})
    assert doc is not None and "handling" not in doc
