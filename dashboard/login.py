"""Who may see the dashboard: Streamlit's OIDC login when configured, else a password.

OIDC (OpenID Connect: Google, Microsoft Entra ID, Okta, Auth0, Keycloak ...) is on
when ``.streamlit/secrets.toml`` has an ``[auth]`` section with a provider: either
``client_id`` etc. directly under ``[auth]`` (one provider) or under named
``[auth.NAME]`` tables (a button per provider). Streamlit then runs the login
(``st.login``), keeps the identity in a signed cookie, and ``st.user`` says who it
is. An optional ``[goodwill_access]`` section narrows who is let in, by e-mail
domain or address (``allowed_domains``, ``allowed_emails``): without it, anyone the
provider authenticates is, so restrict the app at the provider or here.

Without ``[auth]``, the password ``GOODWILL_DASHBOARD_PASSWORD`` gates the app when
set; with neither, the dashboard is open (as on 127.0.0.1 by default).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAuthError

from dashboard import data

__all__ = ["Access", "allowed", "gate", "oidc_providers", "sidebar"]

_LOGGED_IN = "goodwill_logged_in"
_ACCESS = "goodwill_access"


@dataclass(frozen=True)
class Access:
    """How this session got in: ``open``, ``password`` or ``oidc`` (with who, if known)."""

    mode: str
    user: str | None = None


def oidc_providers() -> list[str | None]:
    """The OIDC providers of ``[auth]`` in secrets.toml: ``None`` for the unnamed one, else names.

    Empty when no ``[auth]`` names a provider (no secrets file, or no client_id in it).
    """
    if not st.secrets.load_if_toml_exists():
        return []
    auth = st.secrets.get("auth")
    if not isinstance(auth, Mapping):
        return []
    named = sorted(
        str(key)
        for key, value in auth.items()
        if isinstance(value, Mapping) and "client_id" in value
    )
    return [None, *named] if "client_id" in auth else list(named)


def _rules() -> tuple[set[str], set[str]]:
    section = st.secrets.get(_ACCESS) if st.secrets.load_if_toml_exists() else None
    if not isinstance(section, Mapping):
        return set(), set()

    def words(key: str) -> set[str]:
        value = section.get(key) or []
        items = [value] if isinstance(value, str) else list(value)
        return {str(item).strip().lower().lstrip("@") for item in items if str(item).strip()}

    return words("allowed_domains"), words("allowed_emails")


def allowed(email: str | None, domains: set[str], emails: set[str]) -> bool:
    """Whether a signed-in ``email`` may enter: any, without rules; else a listed address or domain."""
    if not domains and not emails:
        return True
    if not email:
        return False
    address = email.strip().lower()
    return address in emails or address.rpartition("@")[2] in domains


def _password() -> str | None:
    """The dashboard password, if one is set (an empty one counts as none)."""
    secret = data.settings().dashboard_password
    value = secret.get_secret_value() if secret is not None else ""
    return value or None


def _password_form(password: str) -> bool:
    """Show the password form until the right password is given; True once it was."""
    if st.session_state.get(_LOGGED_IN):
        return True
    st.title("Goodwill")
    with st.form("login"):
        given = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in")
    if submitted:
        if hmac.compare_digest(given.encode("utf-8"), password.encode("utf-8")):
            st.session_state[_LOGGED_IN] = True
            st.rerun()
        st.error("Wrong password.")
    return False


def _user_value(key: str) -> str | None:
    value: Any = st.user.get(key)
    return str(value) if isinstance(value, str) and value else None


def _oidc(providers: list[str | None]) -> Access | None:
    """The OIDC login page until the user is signed in (and allowed); then who it is."""
    if st.user.get("is_logged_in"):  # absent, not False, where no login runs (AppTest)
        email = _user_value("email")
        if allowed(email, *_rules()):
            return Access("oidc", _user_value("name") or email)
        st.title("Goodwill")
        st.error(
            f"{email or 'This account'} may not use this dashboard. Ask an administrator to "
            "add you, or log in with another account.",
            icon=":material/block:",
        )
        st.button("Log out", on_click=st.logout)
        return None
    st.title("Goodwill")
    st.write("Log in with your organisation's account to see the dashboard.")
    for provider in providers:
        label = (
            "Log in" if provider is None else f"Log in with {provider.replace('-', ' ').title()}"
        )
        if st.button(label, key=f"oidc_{provider or 'default'}", icon=":material/login:"):
            try:
                st.login(provider)
            except StreamlitAuthError as error:
                st.error(f"**The login is misconfigured.** {error}", icon=":material/error:")
    return None


def gate() -> Access | None:
    """Let the session in, or draw the login page and return None.

    Raises ``ConfigError`` when Goodwill's settings are invalid.
    """
    providers = oidc_providers()
    if providers:
        return _oidc(providers)
    password = _password()
    if password is None:
        return Access("open")
    return Access("password") if _password_form(password) else None


def _log_out() -> None:
    st.session_state[_LOGGED_IN] = False


def sidebar(access: Access) -> None:
    """Who is signed in, and the way out."""
    if access.mode == "oidc":
        if access.user:
            st.caption(f"Signed in as {access.user}")
        st.button("Log out", on_click=st.logout)
    elif access.mode == "password":
        st.button("Log out", on_click=_log_out)
