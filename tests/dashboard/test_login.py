"""Access: Streamlit's OIDC login when ``[auth]`` is configured, else the password gate."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.login import allowed
from store import Database
from tests.dashboard.conftest import Open
from tests.factories import mention, seed

_PROVIDER = {
    "client_id": "goodwill-dashboard",
    "client_secret": "do-not-show-me",
    "server_metadata_url": "https://login.example.com/.well-known/openid-configuration",
}
_AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "also-secret-cookie-key",
}


def _everything(app: AppTest) -> str:
    """Every string the page shows, joined (to look for secrets)."""
    parts = [str(getattr(element, "value", "")) for element in app.main] + [
        str(getattr(element, "label", "")) for element in app.button
    ]
    return "\n".join(parts)


async def test_with_auth_configured_the_page_offers_the_oidc_login(
    monkeypatch: pytest.MonkeyPatch, store: Database, dashboard: Open
) -> None:
    """[auth] with a provider: a Log in button, no password form, no data, no secret shown."""
    await seed(store, [(mention("secret plans"), "negative")])
    monkeypatch.setenv("GOODWILL_DASHBOARD_PASSWORD", "ignored when OIDC is on")
    app = dashboard()
    app.secrets["auth"] = {**_AUTH, **_PROVIDER}
    app.run()
    assert not app.exception
    assert [button.label for button in app.button] == ["Log in"]
    assert not app.text_input  # no password form
    assert not app.metric and not app.text
    shown = _everything(app)
    assert "do-not-show-me" not in shown and "also-secret-cookie-key" not in shown


async def test_named_providers_each_get_a_button(store: Database, dashboard: Open) -> None:
    """[auth.google] and [auth.okta]: one button per provider."""
    app = dashboard()
    app.secrets["auth"] = {**_AUTH, "google": dict(_PROVIDER), "okta": dict(_PROVIDER)}
    app.run()
    assert not app.exception
    assert [button.label for button in app.button] == ["Log in with Google", "Log in with Okta"]


async def test_without_auth_the_password_gate_applies(
    monkeypatch: pytest.MonkeyPatch, store: Database, dashboard: Open
) -> None:
    """Secrets without a provider in [auth] leave the password from settings in charge."""
    monkeypatch.setenv("GOODWILL_DASHBOARD_PASSWORD", "open sesame")
    app = dashboard()
    app.secrets["auth"] = dict(_AUTH)  # no client_id: no provider
    app.run()
    assert [field.label for field in app.text_input] == ["Password"]
    app.text_input[0].input("open sesame")
    app.button[0].click().run()
    assert not app.exception and not app.error
    assert [button.label for button in app.sidebar.button][-1] == "Log out"


def test_access_rules_let_in_listed_domains_and_addresses_only() -> None:
    """No rules: anyone signed in; rules: a listed address or an address at a listed domain."""
    assert allowed("anyone@anywhere.org", set(), set())
    rules = ({"acme.com"}, {"contractor@gmail.com"})
    assert allowed("Ana@ACME.com", *rules)
    assert allowed("contractor@gmail.com", *rules)
    assert not allowed("someone@gmail.com", *rules)
    assert not allowed("ana@acme.com.evil.org", *rules)
    assert not allowed(None, *rules)
