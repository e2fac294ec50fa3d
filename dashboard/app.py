"""Goodwill's dashboard: ``streamlit run dashboard/app.py``.

The entry point and router. A login comes first (``dashboard.login``: OIDC when
configured, else the password from settings); then the navigation over one module
per page: **Overview** (``dashboard.overview``: a brand beside its competitors, from
the daily roll-ups), **Mentions** (``dashboard.mentions``: the feed, filtered and
paged), **Complaints queue** (``dashboard.complaints``: open complaints and their
shared workflow), **Themes** (``dashboard.themes``: what complaints are about, and how
each theme moves), **Advocates and detractors** (``dashboard.advocates``), **Profile**
(``dashboard.profile``) and **Sources and alerts** (``dashboard.sources``: where
collection of each brand x source stands; the latest alerts and their delivery).
Links from alerts (``?mention=``, ``?profile=``, ``?brand=``) open their page. No
page ever shows a secret or a traceback: failures are shown as messages that say
what to do.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

try:
    from dashboard import (
        advocates,
        complaints,
        data,
        login,
        mentions,
        overview,
        profile,
        sources,
        themes,
        ui,
    )
except ModuleNotFoundError:  # `streamlit run dashboard/app.py` from a checkout not installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from dashboard import (
        advocates,
        complaints,
        data,
        login,
        mentions,
        overview,
        profile,
        sources,
        themes,
        ui,
    )

from goodwill.errors import ConfigError

__all__ = ["main"]


def _pages() -> list[st.Page]:
    """The navigation, in menu order; made afresh on each run, as ``st.navigation`` marks its pages."""
    return [
        st.Page(
            ui.guarded(overview.overview),
            title="Overview",
            icon=":material/insights:",
            url_path="overview",
            default=True,
        ),
        st.Page(
            ui.guarded(mentions.mentions),
            title="Mentions",
            icon=":material/forum:",
            url_path="mentions",
        ),
        st.Page(
            ui.guarded(complaints.complaints),
            title="Complaints queue",
            icon=":material/report:",
            url_path="complaints",
        ),
        st.Page(
            ui.guarded(themes.themes),
            title="Themes",
            icon=":material/hub:",
            url_path="themes",
        ),
        st.Page(
            ui.guarded(advocates.advocates),
            title="Advocates and detractors",
            icon=":material/groups:",
            url_path="advocates",
        ),
        st.Page(
            ui.guarded(profile.profile),
            title="Profile",
            icon=":material/person:",
            url_path="profile",
        ),
        st.Page(
            ui.guarded(sources.sources),
            title="Sources and alerts",
            icon=":material/sensors:",
            url_path="sources",
        ),
    ]


def _follow_link(current: st.Page, pages: list[st.Page]) -> None:
    """Alerts link to the app's root: ``?mention=``, ``?profile=``, ``?brand=``; open their page."""
    if current.url_path not in ("", "overview"):
        return
    params = st.query_params
    by_path = {page.url_path: page for page in pages}
    if params.get("mention"):
        st.switch_page(by_path["mentions"], query_params={"mention": params["mention"]})
    if params.get("profile"):
        st.switch_page(by_path["profile"], query_params={"profile": params["profile"]})
    brand = params.get("brand")
    if brand and st.session_state.get("goodwill_linked_brand") != brand:
        # Once per link: the brand picker is the person's to change afterwards.
        st.session_state["goodwill_linked_brand"] = brand
        ui.select_brand(brand)


# What *Your name* is for, by how the session got in (with OIDC it is not asked).
_NAME_HELP = {
    "open": "Recorded with each action you take: label corrections, complaint handling, "
    "merges, splits and erasures. Without a login it is whatever is typed here.",
    "password": "Recorded with each action you take: label corrections, complaint handling, "
    "merges, splits and erasures. The password names no one, so it is whatever is typed "
    "here; an OIDC login records the signed-in account instead.",
}


def main() -> None:
    """Run one pass of the app: settings, login, then the chosen page."""
    st.set_page_config(page_title="Goodwill", page_icon=":material/forum:", layout="wide")
    try:
        access = login.gate()
    except ConfigError as error:
        st.error(f"**Goodwill's settings are invalid.** {error}", icon=":material/error:")
        return
    if access is None:
        return
    pages = _pages()
    current = st.navigation(pages)
    _follow_link(current, pages)
    with st.sidebar:
        st.caption("Goodwill · data refreshes every 30 s")
        if not ui.signed_in():  # a signed-in account is the actor: no name to type
            st.session_state.setdefault(ui.NAME_KEY, ui.DEFAULT_NAME)
            st.text_input(
                "Your name",
                key=ui.NAME_KEY,
                max_chars=100,
                help=_NAME_HELP.get(access.mode, _NAME_HELP["open"]),
            )
        if st.button("Refresh now", icon=":material/refresh:"):
            data.clear_caches()
        login.sidebar(access)
    exposed = login.open_to_network(access)
    if exposed is not None:
        st.warning(
            f"**Open to the network, without a login.** {ui.md(exposed)}",
            icon=":material/public:",
        )
    current.run()


if __name__ == "__main__":
    main()
