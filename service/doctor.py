"""``goodwill doctor``: check each part Goodwill needs and say what is wrong with it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

from config.settings import Settings, load_settings
from goodwill.corpus import corpus_path
from goodwill.errors import GoodwillError
from store import Database
from store import server as dbserver

__all__ = ["Check", "run_checks"]


@dataclass(frozen=True)
class Check:
    """One check's verdict, with what to do when it failed."""

    name: str
    ok: bool
    detail: str


def run_checks() -> Iterator[Check]:
    """Each check in turn; a failed one explains itself and the rest still run."""
    try:
        settings = load_settings()
    except GoodwillError as error:
        yield Check("configuration", False, str(error))
        return
    where = "embedded server" if settings.embedded else "GOODWILL_MONGODB_URI"
    yield Check(
        "configuration",
        True,
        f"data in {settings.data_dir}; database '{settings.database}' on the {where}",
    )
    yield _check_dashboard_access(settings)
    yield _check_database(settings)
    yield _check_corpus()
    yield _check_model(settings)


def _check_dashboard_access(settings: Settings) -> Check:
    """Fails when the dashboard would listen beyond this machine and ask for no login."""
    from dashboard.login import exposure_warning, oidc_configured

    host = settings.dashboard_host
    secret = settings.dashboard_password
    password = bool(secret is not None and secret.get_secret_value())
    oidc = oidc_configured()
    warning = exposure_warning(host, password=password, oidc=oidc)
    if warning is not None:
        return Check("dashboard access", False, warning)
    if oidc or password:
        login = "an OIDC login" if oidc else "a password (GOODWILL_DASHBOARD_PASSWORD)"
        return Check("dashboard access", True, f"listens on {host}, behind {login}")
    return Check("dashboard access", True, f"listens on {host}: this machine only, no login")


def _check_database(settings: Settings) -> Check:
    if settings.embedded and dbserver.status(settings) is None:
        return Check(
            "database",
            False,
            f"the embedded server is not running on 127.0.0.1:{settings.db_port}. "
            "Start it with `goodwill db start` (or `goodwill up`).",
        )

    async def ping() -> int:
        store = await Database.open(
            settings.effective_mongodb_uri, settings.database, timeout_ms=3000
        )
        try:
            return await store.mentions.count()
        finally:
            await store.close()

    try:
        count = asyncio.run(ping())
    except GoodwillError as error:
        return Check("database", False, str(error))
    return Check("database", True, f"answers; {count} mentions stored")


def _check_corpus() -> Check:
    try:
        path = corpus_path()
    except GoodwillError as error:
        return Check("demo data", False, str(error))
    return Check("demo data", True, f"real airline tweets at {path}")


def _check_model(settings: Settings) -> Check:
    try:
        from scoring.sentiment import SentimentModel

        model = SentimentModel.load(settings.model, precision=settings.served_precision)
        [verdict] = model.predict(["The flight was great, thank you!"])
    except GoodwillError as error:
        return Check("model", False, str(error))
    return Check("model", True, f"{model.version} loads and scores (sample: {verdict.label.value})")
