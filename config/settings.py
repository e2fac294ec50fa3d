"""Goodwill's settings: one object, read once, from the environment (prefix ``GOODWILL_``).

Nothing else in Goodwill reads ``os.environ``. Secrets are ``SecretStr`` and have no
defaults; they never reach a log line or a page.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from goodwill.errors import ConfigError

__all__ = ["Settings", "get_settings", "load_settings"]

_ENV_PREFIX = "GOODWILL_"


class Settings(BaseSettings):
    """Every knob of a Goodwill process.

    ``mongodb_uri`` left unset means "the embedded database": Goodwill starts its own
    SecantusDB server on ``127.0.0.1:db_port`` with its data under ``data_dir/db``.
    """

    model_config = SettingsConfigDict(
        env_prefix=_ENV_PREFIX,
        env_file=None,
        extra="ignore",
        secrets_dir=None,
    )

    mongodb_uri: SecretStr | None = Field(
        default=None,
        description="MongoDB connection string (may hold a password); unset = the embedded server.",
    )
    database: str = Field(default="goodwill", pattern=r"^[A-Za-z0-9_-]{1,63}$")
    data_dir: Path = Field(default=Path.home() / ".goodwill")
    db_port: int = Field(default=27027, ge=1, le=65535)
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = Field(default=8501, ge=1, le=65535)
    dashboard_password: SecretStr | None = Field(
        default=None, description="When set, the dashboard asks for it before showing anything."
    )
    slack_webhook_url: SecretStr | None = None
    watchlist: Path | None = Field(
        default=None, description="The watch list (TOML); unset = the built-in demo (replay)."
    )
    # Credentials of sources that need or benefit from them (see the README for how to get each).
    reddit_client_id: SecretStr | None = None
    reddit_client_secret: SecretStr | None = None
    bluesky_handle: str | None = None
    bluesky_app_password: SecretStr | None = None
    youtube_api_key: SecretStr | None = None
    github_token: SecretStr | None = None
    mastodon_access_token: SecretStr | None = None
    stackexchange_key: SecretStr | None = None
    model: str = Field(
        default="goodwill-sentiment",
        description="'goodwill-sentiment' (the bundled fine-tuned model) or a model directory.",
    )
    model_precision: Literal["auto", "fp32", "bf16", "int8"] = Field(
        default="auto",
        description=(
            "What the model computes in: auto (bf16 on CPUs with native bf16, else fp32), "
            "fp32, bf16, or int8 (labels can change with batch-mates: not for defaults)."
        ),
    )
    model_int8: bool = Field(
        default=False, description="Older name of GOODWILL_MODEL_PRECISION=int8; true wins."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    score_batch_size: int = Field(default=32, ge=1, le=1024)
    # How long a scorer holds a claimed batch without renewing it; a dead scorer's batch
    # (and the roll-ups and advocacy it owed) is taken up again once this runs out.
    score_lease_seconds: float = Field(default=300.0, ge=1, le=86_400)
    replay_interval_seconds: float = Field(default=300.0, gt=0)
    # Advocacy (formula in customers/advocacy.py and the README).
    advocate_threshold: float = Field(
        default=20.0,
        ge=-100,
        le=100,
        description="Score at or above which a profile is an advocate.",
    )
    detractor_threshold: float = Field(
        default=-20.0,
        ge=-100,
        le=100,
        description="Score at or below which a profile is a detractor.",
    )
    advocacy_half_life_days: float = Field(
        default=90.0, gt=0, description="A mention's weight halves every this many days."
    )
    advocacy_prior: float = Field(
        default=2.0,
        ge=0,
        description="Neutral pseudo-mentions added: one mention never makes an advocate.",
    )
    erase_keeps_text: bool = Field(
        default=False,
        description="On erasure, keep the text of the person's mentions (author fields are always removed).",
    )
    dead_letter_retention_days: float = Field(
        default=30.0,
        gt=0,
        le=3650,
        description="How long payloads that could not be parsed (dead letters) are kept, in days.",
    )
    slack_bot_token: SecretStr | None = Field(
        default=None, description="Slack bot token (xoxb-...) for destinations that name a channel."
    )
    dashboard_url: str | None = Field(
        default=None,
        description="Public address of the dashboard, for links in alerts (default http://HOST:PORT).",
    )

    @property
    def served_precision(self) -> Literal["auto", "fp32", "bf16", "int8"]:
        """The precision the scorers load the model in (``model_int8`` is its older name)."""
        return "int8" if self.model_int8 else self.model_precision

    @field_validator("mongodb_uri")
    @classmethod
    def _check_uri(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value().strip() == "":
            return None
        if not value.get_secret_value().startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must start with mongodb:// or mongodb+srv://")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def embedded(self) -> bool:
        """True when Goodwill runs its own database server."""
        return self.mongodb_uri is None

    @property
    def effective_mongodb_uri(self) -> str:
        """The URI to connect to: the configured one, or the embedded server's."""
        if self.mongodb_uri is not None:
            return self.mongodb_uri.get_secret_value()
        return f"mongodb://127.0.0.1:{self.db_port}/?directConnection=true"

    @property
    def dashboard_link(self) -> str:
        """The dashboard's address as alerts link to it."""
        if self.dashboard_url:
            return self.dashboard_url.rstrip("/")
        return f"http://{self.dashboard_host}:{self.dashboard_port}"

    @property
    def db_dir(self) -> Path:
        """Where the embedded server keeps its data."""
        return self.data_dir / "db"

    @property
    def run_dir(self) -> Path:
        """Where pid files and logs of running Goodwill processes live."""
        return self.data_dir / "run"


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "?"
        given = item.get("input")
        secret = field.endswith(("url", "uri", "password", "token", "secret", "key"))
        shown = "" if secret else f" (got {given!r})"
        lines.append(f"{_ENV_PREFIX}{field.upper()}: {item['msg']}{shown}")
    return "Invalid setting:\n  " + "\n  ".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, raising ``ConfigError`` that names the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]["loc"]
        key = f"{_ENV_PREFIX}{str(first[0]).upper()}" if first else None
        raise ConfigError(_describe(error), key=key) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
