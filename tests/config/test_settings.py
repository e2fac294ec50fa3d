"""Settings: read from GOODWILL_ variables, bad values named, secrets kept secret."""

from __future__ import annotations

import pytest

from config.settings import load_settings
from goodwill.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("GOODWILL_"):
            monkeypatch.delenv(name)


def test_defaults_use_the_embedded_database() -> None:
    """With nothing set, Goodwill runs its own database on 127.0.0.1."""
    settings = load_settings()
    assert settings.embedded
    assert settings.effective_mongodb_uri == "mongodb://127.0.0.1:27027/?directConnection=true"


def test_a_real_mongodb_uri_replaces_the_embedded_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """GOODWILL_MONGODB_URI points Goodwill at a real MongoDB."""
    monkeypatch.setenv("GOODWILL_MONGODB_URI", "mongodb://db.example:27017/?replicaSet=rs0")
    settings = load_settings()
    assert not settings.embedded
    assert settings.effective_mongodb_uri == "mongodb://db.example:27017/?replicaSet=rs0"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("GOODWILL_DB_PORT", "99999", "less than or equal to 65535"),
        ("GOODWILL_MONGODB_URI", "postgres://x", "mongodb://"),
        ("GOODWILL_LOG_LEVEL", "LOUD", "DEBUG"),
        ("GOODWILL_SCORE_BATCH_SIZE", "0", "greater than or equal to 1"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_is_expected(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    """Each invalid variable is named in the error, with what it should be."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.key == name
    assert name in str(caught.value) and expected in str(caught.value)


def test_secrets_never_show_in_their_repr_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Slack webhook and a URI with a password never appear in settings' text or errors."""
    monkeypatch.setenv("GOODWILL_SLACK_WEBHOOK_URL", "https://hooks.slack.invalid/T000/B000/SECRET")
    monkeypatch.setenv("GOODWILL_DASHBOARD_PASSWORD", "hunter2")
    monkeypatch.setenv("GOODWILL_MONGODB_URI", "mongodb://user:pw-SECRET@host/")
    settings = load_settings()
    assert "SECRET" not in repr(settings) and "hunter2" not in repr(settings)
    assert settings.effective_mongodb_uri == "mongodb://user:pw-SECRET@host/"
    monkeypatch.setenv("GOODWILL_MONGODB_URI", "http://user:pw-SECRET@host")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "SECRET" not in str(caught.value)
