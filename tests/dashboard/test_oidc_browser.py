"""The OIDC login end to end: a real identity provider on 127.0.0.1, the real ``streamlit run``
server, headless Chromium.

The provider is a small OpenID Connect server (discovery, authorization, token and JWKS
endpoints, RS256-signed ID tokens) that signs in whoever asks with the claims the test
sets, so what reaches ``st.user`` is what Streamlit's own login makes of a real ID token.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import RSAKey
from playwright.async_api import Page, async_playwright

from tests.browser import CHROMIUM_ARGS, ROOT
from tests.conftest import free_port
from tests.dashboard.conftest import _wait_until_healthy, settle

_CLIENT_ID = "goodwill-dashboard"


class IdentityProvider:
    """An OpenID Connect provider on 127.0.0.1 that signs in anyone with ``claims``."""

    def __init__(self, port: int) -> None:
        self.issuer = f"http://127.0.0.1:{port}"
        self.port = port
        self.claims: dict[str, Any] = {}
        self._key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig"})
        self._codes: dict[str, str | None] = {}  # authorization code -> the login's nonce
        self.app = web.Application()
        self.app.add_routes(
            [
                web.get("/.well-known/openid-configuration", self._discovery),
                web.get("/authorize", self._authorize),
                web.post("/token", self._token),
                web.get("/jwks", self._jwks),
            ]
        )

    async def _discovery(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
            }
        )

    async def _authorize(self, request: web.Request) -> web.Response:
        query = request.query
        assert query.get("client_id") == _CLIENT_ID and query.get("response_type") == "code"
        code = secrets.token_urlsafe(16)
        self._codes[code] = query.get("nonce")
        target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        raise web.HTTPFound(target)

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        code = str(form.get("code"))
        if code not in self._codes:
            return web.json_response({"error": "invalid_grant"}, status=400)
        nonce = self._codes.pop(code)
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": _CLIENT_ID,
            "iat": now,
            "exp": now + 600,
            **({"nonce": nonce} if nonce else {}),
            **self.claims,
        }
        id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self._key)
        return web.json_response(
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 600,
                "id_token": id_token,
            }
        )

    async def _jwks(self, request: web.Request) -> web.Response:
        return web.json_response({"keys": [self._key.as_dict(private=False)]})


@contextlib.asynccontextmanager
async def _provider() -> AsyncIterator[IdentityProvider]:
    provider = IdentityProvider(free_port())
    runner = web.AppRunner(provider.app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", provider.port)
    await site.start()
    try:
        yield provider
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def _dashboard(env: dict[str, str], port: int, log_path: Path) -> AsyncIterator[str]:
    """``streamlit run dashboard/app.py`` on ``port`` (the redirect URI names it beforehand)."""
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "dashboard/app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_until_healthy(url, process, log_path)
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=20)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _log_in(page: Page, url: str) -> None:
    await page.goto(url)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"{url}/**", timeout=30_000)  # back from the provider
    await settle(page)


async def test_a_real_provider_login_refuses_an_unverified_address_and_lets_a_verified_one_in(
    goodwill_env: dict[str, str], tmp_path: Path, chromium: Path
) -> None:
    """An ID token with email_verified false for an allowed domain is refused with what to do;
    the same account, verified, enters and is who actions are recorded under."""
    port = free_port()
    async with _provider() as provider:
        home = tmp_path / "home"
        (home / ".streamlit").mkdir(parents=True)
        (home / ".streamlit" / "secrets.toml").write_text(
            f"""
[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "{secrets.token_hex(16)}"
client_id = "{_CLIENT_ID}"
client_secret = "{secrets.token_hex(16)}"
server_metadata_url = "{provider.issuer}/.well-known/openid-configuration"

[goodwill_access]
allowed_domains = ["acme.com"]
"""
        )
        env = {**goodwill_env, "HOME": str(home)}
        claims = {"sub": "ana-1", "email": "ana@acme.com", "name": "Ana Lima"}
        async with (
            _dashboard(env, port, tmp_path / "streamlit.log") as url,
            async_playwright() as playwright,
        ):
            browser = await playwright.chromium.launch(
                executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
            )
            try:
                page = await browser.new_page()
                provider.claims = {**claims, "email_verified": False}
                await _log_in(page, url)
                refusal = page.get_by_text("ana@acme.com is not verified with your login provider")
                await refusal.wait_for(timeout=30_000)
                assert await page.get_by_text("Overview").count() == 0

                await page.get_by_role("button", name="Log out").click()
                await page.get_by_role("button", name="Log in").wait_for(timeout=30_000)
                provider.claims = {**claims, "email_verified": True}
                await _log_in(page, url)
                signed_in = page.get_by_text("Signed in as Ana Lima (ana@acme.com)")
                await signed_in.wait_for(timeout=30_000)
                assert await page.get_by_label("Your name").count() == 0
            finally:
                await browser.close()
