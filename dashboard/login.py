"""Who may see the dashboard: Streamlit's OIDC login when configured, else a password.

OIDC (OpenID Connect: Google, Microsoft Entra ID, Okta, Auth0, Keycloak ...) is on
when ``.streamlit/secrets.toml`` has an ``[auth]`` section with a provider: either
``client_id`` etc. directly under ``[auth]`` (one provider) or under named
``[auth.NAME]`` tables (a button per provider). Streamlit then runs the login
(``st.login``), keeps the identity in a signed cookie, and ``st.user`` says who it
is. An optional ``[goodwill_access]`` section narrows who is let in, by e-mail
domain or address (``allowed_domains``, ``allowed_emails``): without it, anyone the
provider authenticates is, so restrict the app at the provider or here. Where these
rules apply, the address must be one the provider vouches for: its ID token's
``email_verified`` claim must be true. A false claim is refused, and so is a missing
one (a provider that does not say, such as Microsoft Entra ID, gives no ground to
trust the domain of an address a user may have typed in); restrict such a provider's
users at the provider instead. The signed-in account (its e-mail, else its name) is
who every action is recorded under.

Without ``[auth]``, the password ``GOODWILL_DASHBOARD_PASSWORD`` gates the app when
set. Wrong passwords are throttled: after 5 in one browser session, or 20 in all
sessions of the process together (a script opening new sessions gains nothing), each
further try must wait, 2 s at first, doubling up to 15 minutes; failures are forgotten
after 15 minutes without one. The password names no one, so actions are recorded
under the name typed in the sidebar. With neither login the dashboard is open: fine
on 127.0.0.1 (the default), and warned about loudly (``exposure_warning``: by
``goodwill up``, ``goodwill doctor``, the log and a banner on every page) when it
listens on an address other machines reach.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import socket
import threading
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit import config as st_config
from streamlit.errors import StreamlitAuthError

from config.settings import get_settings
from dashboard import ui

__all__ = [
    "Access",
    "admission",
    "allowed",
    "exposure_warning",
    "gate",
    "is_loopback",
    "oidc_configured",
    "oidc_providers",
    "open_to_network",
    "sidebar",
]

_log = logging.getLogger("goodwill.dashboard")

_LOGGED_IN = "goodwill_logged_in"
_ACCESS = "goodwill_access"
_FAILURES = "goodwill_password_failures"  # this session's wrong passwords: (count, last at)

# Password throttling: free tries, then a wait that doubles with each further failure.
_FREE_PER_SESSION = 5
_FREE_PER_PROCESS = 20
_FIRST_DELAY_S = 2.0
_MAX_DELAY_S = 900.0
_FORGET_AFTER_S = 900.0  # failures this long ago no longer count


@dataclass(frozen=True)
class Access:
    """How this session got in: ``open``, ``password`` or ``oidc``.

    With OIDC, ``user`` is the signed-in account actions are recorded under (its
    e-mail, else its name, else its subject id) and ``name`` its display name.
    """

    mode: str
    user: str | None = None
    name: str | None = None


def _providers_in(auth: Mapping[str, Any]) -> list[str | None]:
    named = sorted(
        str(key)
        for key, value in auth.items()
        if isinstance(value, Mapping) and "client_id" in value
    )
    return [None, *named] if "client_id" in auth else list(named)


def oidc_providers() -> list[str | None]:
    """The OIDC providers of ``[auth]`` in secrets.toml: ``None`` for the unnamed one, else names.

    Empty when no ``[auth]`` names a provider (no secrets file, or no client_id in it).
    """
    if not st.secrets.load_if_toml_exists():
        return []
    auth = st.secrets.get("auth")
    if not isinstance(auth, Mapping):
        return []
    return _providers_in(auth)


def oidc_configured() -> bool:
    """Whether the secrets.toml files the dashboard reads name an OIDC provider.

    Reads the files Streamlit would (``secrets.files``: ``~/.streamlit/secrets.toml``,
    then ``.streamlit/secrets.toml`` in the working directory) straight from disk, for
    processes other than the dashboard (``goodwill up``, ``goodwill doctor``): unlike
    ``st.secrets`` this puts nothing into ``os.environ``. A file that cannot be read or
    parsed counts as absent, as the dashboard then starts without its login too.
    """
    auth: object = None
    for name in st_config.get_option("secrets.files") or []:
        try:
            parsed = tomllib.loads(Path(name).expanduser().read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        if "auth" in parsed:
            auth = parsed["auth"]  # a later file's section replaces an earlier one's
    return isinstance(auth, Mapping) and bool(_providers_in(auth))


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


def _verified(claim: object) -> bool | None:
    """The ``email_verified`` claim: True, False, or None when the provider sent none.

    Some providers send the string ``"true"`` rather than a JSON boolean.
    """
    if claim is None:
        return None
    if isinstance(claim, str):
        return claim.strip().lower() == "true"
    return claim is True


def admission(
    email: str | None, email_verified: object, domains: set[str], emails: set[str]
) -> str | None:
    """Why a signed-in account may not enter (a message saying what to do), or None to let it in.

    Without rules (``domains``, ``emails``) anyone the provider signed in enters. With
    them, the address must be listed (or at a listed domain) and verified: a false or
    missing ``email_verified`` claim is refused, as an unverified address proves nothing
    about the domain it names.
    """
    if not domains and not emails:
        return None
    if not allowed(email, domains, emails):
        return (
            f"{email or 'This account'} may not use this dashboard. Ask an administrator to "
            "add you, or log in with another account."
        )
    verified = _verified(email_verified)
    if verified is False:
        return (
            f"{email} is not verified with your login provider, so this dashboard cannot "
            "trust it. Confirm the address with the provider (follow the link in its "
            "confirmation e-mail, or ask its administrator), then log in again."
        )
    if verified is None:
        return (
            f"Your login provider does not say whether {email} is verified, so this "
            "dashboard cannot check it against the addresses allowed in. Ask an "
            "administrator: such a provider's users are restricted at the provider "
            "(see Login in Goodwill's README)."
        )
    return None


# -- the password and its throttle ---------------------------------------------------------


@dataclass
class _Failures:
    """Wrong passwords counted somewhere (a session, the process), with when the last was."""

    count: int = 0
    last: float = 0.0  # time.monotonic() of the last failure

    def wait(self, free: int, now: float) -> float:
        """Seconds before the next try is allowed (0: now)."""
        if self.count < free or now - self.last > _FORGET_AFTER_S:
            return 0.0
        delay = min(_FIRST_DELAY_S * 2.0 ** (self.count - free), _MAX_DELAY_S)
        return max(0.0, self.last + delay - now)

    def fail(self, now: float) -> None:
        if now - self.last > _FORGET_AFTER_S:
            self.count = 0
        self.count += 1
        self.last = now


_PROCESS_FAILURES = _Failures()  # every session's wrong passwords, together
_PROCESS_LOCK = threading.Lock()  # sessions run their scripts on threads of their own


def _session_failures() -> _Failures:
    count, last = st.session_state.get(_FAILURES, (0, 0.0))
    return _Failures(int(count), float(last))


def _throttle_wait(now: float) -> float:
    """Seconds this session must wait before its next password try (0: it may try now)."""
    with _PROCESS_LOCK:
        process = _PROCESS_FAILURES.wait(_FREE_PER_PROCESS, now)
    return max(process, _session_failures().wait(_FREE_PER_SESSION, now))


def _record_failure(now: float) -> float:
    """Count a wrong password for this session and the process; the wait it now imposes."""
    session = _session_failures()
    session.fail(now)
    st.session_state[_FAILURES] = (session.count, session.last)
    with _PROCESS_LOCK:
        _PROCESS_FAILURES.fail(now)
        total = _PROCESS_FAILURES.count
        process = _PROCESS_FAILURES.wait(_FREE_PER_PROCESS, now)
    if process > 0:
        _log.warning(
            "%d wrong dashboard passwords in the last minutes (all sessions); every "
            "session must now wait %s before its next try.",
            total,
            _duration(process),
        )
    return max(process, session.wait(_FREE_PER_SESSION, now))


def _duration(seconds: float) -> str:
    """A wait as people read it: ``8 s``, ``2 min 8 s``, ``15 min``."""
    whole = max(1, math.ceil(seconds))
    minutes, rest = divmod(whole, 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min" + (f" {rest} s" if rest else "")


def _password() -> str | None:
    """The dashboard password, if one is set (an empty one counts as none)."""
    secret = get_settings().dashboard_password
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
    if not submitted:
        return False
    now = time.monotonic()
    wait = _throttle_wait(now)
    if wait > 0:
        # Not even compared: while throttled, the right password is refused too.
        st.error(
            f"Too many wrong passwords. Wait {_duration(wait)}, then try again. If you do "
            "not know the password, ask whoever runs Goodwill (GOODWILL_DASHBOARD_PASSWORD).",
            icon=":material/timer:",
        )
        return False
    if hmac.compare_digest(given.encode("utf-8"), password.encode("utf-8")):
        st.session_state.pop(_FAILURES, None)
        st.session_state[_LOGGED_IN] = True
        st.rerun()
    wait = _record_failure(now)
    if wait > 0:
        st.error(
            f"Wrong password. Too many wrong passwords: wait {_duration(wait)} before the "
            "next try. If you do not know the password, ask whoever runs Goodwill "
            "(GOODWILL_DASHBOARD_PASSWORD).",
            icon=":material/timer:",
        )
    else:
        st.error("Wrong password.", icon=":material/error:")
        st.caption(
            f"Check it and try again. After {_FREE_PER_SESSION} wrong tries, each next one "
            "has to wait a while."
        )
    return False


# -- OIDC ------------------------------------------------------------------------------


def _user_value(key: str) -> str | None:
    value: Any = st.user.get(key)
    return str(value) if isinstance(value, str) and value else None


def _oidc(providers: list[str | None]) -> Access | None:
    """The OIDC login page until the user is signed in (and allowed); then who it is."""
    if st.user.get("is_logged_in"):  # absent, not False, where no login runs (AppTest)
        email = _user_value("email")
        refusal = admission(email, st.user.get("email_verified"), *_rules())
        if refusal is None:
            name = _user_value("name")
            return Access("oidc", email or name or _user_value("sub"), name)
        st.title("Goodwill")
        st.error(refusal, icon=":material/block:")
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

    Records the signed-in account (OIDC) as the session's actor for ``ui.who``.
    Raises ``ConfigError`` when Goodwill's settings are invalid.
    """
    st.session_state.pop(ui.IDENTITY_KEY, None)
    providers = oidc_providers()
    if providers:
        access = _oidc(providers)
        if access is not None and access.user:
            st.session_state[ui.IDENTITY_KEY] = access.user
        return access
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
            named = access.name not in (None, access.user)
            shown = f"{access.name} ({access.user})" if named else access.user
            st.caption(f"Signed in as {ui.md(shown)}; your actions are recorded under it.")
        st.button("Log out", on_click=st.logout)
    elif access.mode == "password":
        st.button("Log out", on_click=_log_out)


# -- an open dashboard on the network ------------------------------------------------------


@lru_cache(maxsize=32)
def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (an address or name to listen on) is reachable from this machine only.

    ``0.0.0.0``, ``::``, an empty host (every interface) and the machine's network
    addresses are not; ``127.0.0.1``, ``::1``, ``localhost`` and a Unix socket are. A
    name counts as loopback only when every address it resolves to is.
    """
    text = (host or "").strip().strip("[]")
    if text.startswith("unix://"):
        return True
    if not text:
        return False
    try:
        return _loopback_address(text)
    except ValueError:
        pass
    if text.lower() == "localhost" or text.lower().endswith(".localhost"):
        return True
    try:
        found = socket.getaddrinfo(text, None)
    except (OSError, UnicodeError):
        return False
    addresses = {str(info[4][0]).partition("%")[0] for info in found}
    return bool(addresses) and all(_loopback_address(a) for a in addresses)


def _loopback_address(text: str) -> bool:
    """Whether an IP address is a loopback one (``::ffff:127.0.0.1`` too); ValueError if no address."""
    address = ipaddress.ip_address(text)
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


def exposure_warning(host: str, *, password: bool, oidc: bool) -> str | None:
    """What to say when the dashboard listens on ``host`` beyond this machine with no login.

    None when it listens on this machine only, or asks for a password or an OIDC login.
    """
    if password or oidc or is_loopback(host):
        return None
    return (
        f"The dashboard listens on {host or 'every interface'} (GOODWILL_DASHBOARD_HOST), "
        "which other machines can reach, and asks for no login: anyone who reaches it can "
        "read every mention and person, and erase or merge people. Set "
        "GOODWILL_DASHBOARD_PASSWORD or an OIDC login (README, Login) and restart, or set "
        "GOODWILL_DASHBOARD_HOST=127.0.0.1 to keep it on this machine."
    )


_WARNED: set[str] = set()  # the kinds of warning this process has logged already


def open_to_network(access: Access) -> str | None:
    """The warning for an open dashboard that other machines reach, or None; logged once.

    Judges the address Streamlit listens on (``--server.address``, else
    GOODWILL_DASHBOARD_HOST as ``goodwill up`` passes it), and also the session's own
    client: one connecting from another machine proves the dashboard is reachable.
    """
    if access.mode != "open":
        return None
    address = st_config.get_option("server.address")
    host = str(address) if address else get_settings().dashboard_host
    warning = exposure_warning(host, password=False, oidc=False)
    kind = "address"
    client = st.context.ip_address  # None for a local client
    if warning is None and isinstance(client, str) and client and not is_loopback(client):
        kind = "client"
        warning = (
            f"This session comes from {client}, another machine, and the dashboard asks for "
            "no login: anyone who reaches it can read every mention and person, and erase or "
            "merge people. Set GOODWILL_DASHBOARD_PASSWORD or an OIDC login (README, Login) "
            "and restart, or let it listen on 127.0.0.1 only (GOODWILL_DASHBOARD_HOST)."
        )
    if warning is not None and kind not in _WARNED:
        _WARNED.add(kind)  # once per process, not per session or client
        _log.warning("%s", warning)
    return warning
