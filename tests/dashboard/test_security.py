"""Security and bad input on the dashboard, run by AppTest on the real database.

Unverified OIDC addresses, password throttling, an open dashboard on the network,
who actions are recorded under, and names from collected posts shown literally.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from config.settings import get_settings
from customers.profiles import ProfileStore
from dashboard import login, ui
from store import Database
from tests.dashboard.conftest import Open, _go, _no_failure
from tests.dashboard.test_people import ingest, said
from tests.factories import mention, profile_doc, seed

_AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "a-cookie-secret-for-tests",
    "client_id": "goodwill-dashboard",
    "client_secret": "a-client-secret-for-tests",
    "server_metadata_url": "https://login.example.com/.well-known/openid-configuration",
}
EVIL = "**x** [link](http://evil) <img src=x>"
_LIVE_MARKUP = re.compile(r"(?<!\\)(\*\*x|\[link|<img)")  # EVIL's markup, not escaped


def _literal(shown: str) -> bool:
    """Whether ``shown`` (Markdown source) holds EVIL escaped, and none of its markup live."""
    return ui.md(EVIL) in shown and _LIVE_MARKUP.search(shown) is None


_PAGES = ("", "mentions", "complaints", "advocates", "profile", "sources")


def _signed_in(app: AppTest, *, rules: bool = True, **claims: Any) -> AppTest:
    """Configure the OIDC login (with access rules for acme.com) and a signed-in account."""
    app.secrets["auth"] = dict(_AUTH)
    if rules:
        app.secrets["goodwill_access"] = {"allowed_domains": ["acme.com"]}
    app.user = {"is_logged_in": True, "sub": "user-1", **claims}
    return app


def _let_in(app: AppTest) -> bool:
    """Whether the run got past the login: the navigation and a page were drawn."""
    return bool(app.title) and app.title[0].value != "Goodwill"


# -- 1. OIDC: only a verified address counts against the access rules -----------------------


@pytest.mark.parametrize(
    ("claim", "refusal"),
    [
        (False, "is not verified with your login provider"),
        (None, "does not say whether ana@acme.com is verified"),
        ("false", "is not verified with your login provider"),
    ],
    ids=["false", "missing", "string-false"],
)
async def test_an_unverified_address_at_an_allowed_domain_is_refused(
    store: Database, dashboard: Open, claim: object, refusal: str
) -> None:
    """email_verified false (or missing) where access rules apply: refused, saying what to do."""
    await seed(store, [(mention("secret plans"), "negative")])
    claims: dict[str, Any] = {"email": "ana@acme.com", "name": "Ana Lima"}
    if claim is not None:
        claims["email_verified"] = claim
    app = _signed_in(dashboard(), **claims).run()
    assert not app.exception
    assert not _let_in(app)
    assert not app.metric and not app.text
    [error] = app.error
    assert refusal in error.value
    assert "then log in again" in error.value or "Ask an administrator" in error.value
    assert [button.label for button in app.button] == ["Log out"]


@pytest.mark.parametrize("claim", [True, "true"], ids=["bool", "string"])
async def test_a_verified_address_enters_and_without_rules_verification_is_not_asked(
    store: Database, dashboard: Open, claim: object
) -> None:
    """email_verified true (JSON or the string some providers send) enters; so does anyone
    the provider signs in when no access rules are set (the documented choice), while the
    same unverified account is refused once rules apply."""
    verified = _signed_in(dashboard(), email="ana@acme.com", email_verified=claim).run()
    _no_failure(verified)
    assert _let_in(verified)
    no_rules = dashboard()
    _signed_in(no_rules, rules=False, email="bo@elsewhere.org", email_verified=False).run()
    _no_failure(no_rules)
    assert _let_in(no_rules)
    with_rules = dashboard()
    _signed_in(with_rules, email="bo@acme.com", email_verified=False).run()
    assert not _let_in(with_rules)


# -- 2. the password form is throttled -------------------------------------------------------


@pytest.fixture
def fresh_throttle() -> Iterator[None]:
    """The process-wide count of wrong passwords starts and ends at zero (other tests log in)."""
    login._PROCESS_FAILURES.count, login._PROCESS_FAILURES.last = 0, 0.0
    yield
    login._PROCESS_FAILURES.count, login._PROCESS_FAILURES.last = 0, 0.0


def _try(app: AppTest, password: str) -> AppTest:
    app.text_input[0].input(password)
    return app.button[0].click().run()


def _wait_in(message: str) -> int:
    found = re.search(r"[Ww]ait (\d+) s\b", message)
    assert found, message
    return int(found.group(1))


@pytest.mark.usefixtures("fresh_throttle")
async def test_wrong_passwords_make_the_session_wait_ever_longer(
    monkeypatch: pytest.MonkeyPatch, store: Database, dashboard: Open
) -> None:
    """After 5 wrong passwords even the right one is refused until the wait (said) is over."""
    monkeypatch.setenv("GOODWILL_DASHBOARD_PASSWORD", "open sesame")
    app = dashboard().run()
    for _ in range(4):
        _try(app, "guess")
        assert app.error[0].value == "Wrong password."
    _try(app, "guess")
    assert "Too many wrong passwords" in app.error[0].value
    first = _wait_in(app.error[0].value)
    assert first >= 1

    _try(app, "open sesame")  # the right one, too soon
    assert "Too many wrong passwords" in app.error[0].value
    assert not app.metric and [field.label for field in app.text_input] == ["Password"]
    _wait_in(app.error[0].value)

    await asyncio.sleep(first + 0.5)
    _try(app, "guess")  # allowed again, wrong again: the next wait is longer
    assert _wait_in(app.error[0].value) > first
    await asyncio.sleep(_wait_in(app.error[0].value) + 0.5)
    _try(app, "open sesame")
    _no_failure(app)
    assert _let_in(app)


@pytest.mark.usefixtures("fresh_throttle")
async def test_new_sessions_do_not_escape_the_throttle(
    monkeypatch: pytest.MonkeyPatch, store: Database, dashboard: Open
) -> None:
    """20 wrong passwords across sessions: a new session's first try, even right, must wait."""
    monkeypatch.setenv("GOODWILL_DASHBOARD_PASSWORD", "open sesame")
    fresh = dashboard().run()  # opened first, so that its try follows the 20th at once
    for _ in range(4):
        script = dashboard().run()
        for _ in range(5):
            _try(script, "guess")
    _try(fresh, "open sesame")
    assert not _let_in(fresh)
    assert "Too many wrong passwords" in fresh.error[0].value
    assert _wait_in(fresh.error[0].value) >= 1


# -- 3. an open dashboard on the network is warned about on every page ------------------------


async def test_an_open_dashboard_on_the_network_warns_on_every_page(
    monkeypatch: pytest.MonkeyPatch, store: Database, dashboard: Open
) -> None:
    """GOODWILL_DASHBOARD_HOST=0.0.0.0 and no login: a banner on each page saying what to do;
    with a password, none."""
    await seed(store, [(mention("hello Acme"), "positive")])
    monkeypatch.setenv("GOODWILL_DASHBOARD_HOST", "0.0.0.0")
    app = dashboard().run()
    for page in _PAGES:
        _go(app, page)
        assert not app.exception, page
        banners = [w.value for w in app.warning if "Open to the network" in w.value]
        assert len(banners) == 1, page
        assert "GOODWILL\\_DASHBOARD\\_PASSWORD" in banners[0]  # escaped Markdown
        assert "0\\.0\\.0\\.0" in banners[0]

    monkeypatch.setenv("GOODWILL_DASHBOARD_PASSWORD", "open sesame")
    get_settings.cache_clear()  # settings are read once per process
    guarded = dashboard().run()
    _try(guarded, "open sesame")
    _no_failure(guarded)
    assert not [w for w in guarded.warning if "Open to the network" in w.value]


# -- 4. who an action is recorded under ------------------------------------------------------


async def test_actions_are_recorded_under_the_signed_in_account_not_a_typed_name(
    store: Database, dashboard: Open
) -> None:
    """With OIDC, no *Your name* box: a merge is recorded under the account, whatever was typed."""
    profiles = await ingest(
        store, [(said("Acme hi", "jane"), "positive"), (said("Acme yo", "janed"), "positive")]
    )
    jane = await profiles.get("replay:jane")
    app = _signed_in(dashboard(), email="ana@acme.com", email_verified=True, name="Ana Lima")
    app.session_state[ui.NAME_KEY] = "mallory"
    app.query_params["profile"] = jane["_id"]
    app.run()
    _no_failure(app)
    assert "Your name" not in [field.label for field in app.sidebar.text_input]
    signed_in = "Signed in as " + ui.md("Ana Lima (ana@acme.com)")
    assert any(signed_in in caption.value for caption in app.sidebar.caption)
    assert any("Recorded as ana@acme\\.com" in c.value for c in app.caption)

    app.text_input(key="profile_merge_ref").set_value("replay:janed").run()
    app.button(key="profile_merge_find").click().run()
    app.button(key="profile_merge_confirm").click().run()
    _no_failure(app)
    record = (await profiles.merges.records(jane["_id"]))[0]
    assert record["by"] == "ana@acme.com"


async def test_with_the_password_your_name_stays_and_says_why(
    monkeypatch: pytest.MonkeyPatch, store: Database, dashboard: Open
) -> None:
    """The password names no one: *Your name* stays, and its help says so."""
    monkeypatch.setenv("GOODWILL_DASHBOARD_PASSWORD", "open sesame")
    app = dashboard().run()
    _try(app, "open sesame")
    _no_failure(app)
    [name] = [field for field in app.sidebar.text_input if field.label == "Your name"]
    assert "password names no one" in str(name.help)


# -- 5. names from collected posts and links are shown literally ------------------------------


async def test_a_merged_profiles_name_is_shown_literally(store: Database, dashboard: Open) -> None:
    """The merge success message escapes the other profile's display name."""
    profiles = ProfileStore(store)
    first = profile_doc("keeper", display_name="Keeper")
    evil = profile_doc("evil", display_name=EVIL)
    await store.collection("profiles").insert_many([first, evil])
    app = dashboard()
    app.query_params["profile"] = first["_id"]
    app.run()
    app.text_input(key="profile_merge_ref").set_value(evil["_id"]).run()
    app.button(key="profile_merge_find").click().run()
    app.button(key="profile_merge_confirm").click().run()
    _no_failure(app)
    [success] = app.success
    assert success.value.startswith("Merged ")
    assert _literal(success.value), success.value
    assert len((await profiles.get(first["_id"]))["identities"]) == 2


async def test_a_profile_link_shows_the_reference_and_names_literally(
    store: Database, dashboard: Open
) -> None:
    """?profile= naming no one, or several people: the warning quotes the link and the names
    literally."""
    await store.collection("profiles").insert_many(
        [
            profile_doc("one", display_name=EVIL, emails=["shared@example.com"]),
            profile_doc("two", display_name=EVIL, emails=["shared@example.com"]),
        ]
    )
    for reference in (EVIL, "shared@example.com"):
        app = dashboard()
        app.query_params["profile"] = reference
        app.run()
        assert not app.exception
        [warning] = app.warning
        assert _literal(warning.value), (reference, warning.value)
