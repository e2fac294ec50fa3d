"""A dashboard open to the network without a login: `goodwill doctor` fails on it, `goodwill up` warns."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.service.conftest import UpProcess

_OPEN = "The dashboard listens on 0.0.0.0 (GOODWILL_DASHBOARD_HOST)"
_SECRETS = """
[auth]
redirect_uri = "http://localhost:8501/oauth2callback"
cookie_secret = "a-cookie-secret-for-tests"
client_id = "goodwill-dashboard"
client_secret = "a-client-secret-for-tests"
server_metadata_url = "https://login.example.com/.well-known/openid-configuration"
"""


def _home(tmp_path: Path, *, oidc: bool = False) -> Path:
    """A home directory of its own (Streamlit reads ~/.streamlit/secrets.toml), with OIDC or not."""
    home = tmp_path / "home"
    (home / ".streamlit").mkdir(parents=True, exist_ok=True)
    if oidc:
        (home / ".streamlit" / "secrets.toml").write_text(_SECRETS)
    return home


@pytest.mark.parametrize(
    ("login", "verdict"),
    [
        (None, f"[FAIL] dashboard access: {_OPEN}"),
        ("password", "[ok  ] dashboard access: listens on 0.0.0.0, behind a password"),
        ("oidc", "[ok  ] dashboard access: listens on 0.0.0.0, behind an OIDC login"),
    ],
    ids=["no-login", "password", "oidc"],
)
def test_doctor_fails_a_dashboard_open_to_the_network(
    goodwill_env: dict[str, str], tmp_path: Path, login: str | None, verdict: str
) -> None:
    """GOODWILL_DASHBOARD_HOST=0.0.0.0 with no login: a failed check saying what to set (exit 1);
    with a password or an OIDC login in secrets.toml, the check passes."""
    env = {
        **goodwill_env,
        "GOODWILL_DASHBOARD_HOST": "0.0.0.0",
        "HOME": str(_home(tmp_path, oidc=login == "oidc")),
    }
    if login == "password":
        env["GOODWILL_DASHBOARD_PASSWORD"] = "open sesame"
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "doctor"],
        env=env,
        cwd=tmp_path,  # no .streamlit/ of the checkout's
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if "dashboard access" in line]
    assert len(lines) == 1, result.stdout + result.stderr
    assert lines[0].startswith(verdict), lines[0]
    if login is None:
        assert "GOODWILL_DASHBOARD_PASSWORD" in lines[0] and "127.0.0.1" in lines[0]
        assert result.returncode == 1
    assert "open sesame" not in result.stdout + result.stderr


@pytest.mark.timeout(400)
def test_up_warns_loudly_of_a_dashboard_open_to_the_network(
    start_up: Callable[[dict[str, str]], UpProcess],
    light_up_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """`goodwill up` on 0.0.0.0 without a login logs the warning, repeats it once up, and the
    dashboard it started shows it as a banner."""
    env = {**light_up_env, "GOODWILL_DASHBOARD_HOST": "0.0.0.0", "HOME": str(_home(tmp_path))}
    up = start_up(env)
    up.wait_for("Goodwill is up", 240)
    output = up.wait_for(f"WARNING: {_OPEN}", 30)
    assert f"WARNING service.supervisor: {_OPEN}" in output  # the log line, before the start
    assert output.index("WARNING service.supervisor") < output.index("Goodwill is up")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{env['GOODWILL_DASHBOARD_PORT']}/mentions")
            banner = page.get_by_text("Open to the network, without a login.")
            banner.wait_for(timeout=60_000)
            assert (
                "GOODWILL_DASHBOARD_PASSWORD"
                in page.locator("[data-testid='stAlert']").first.inner_text()
            )
        finally:
            browser.close()
    assert up.interrupt() == 0
