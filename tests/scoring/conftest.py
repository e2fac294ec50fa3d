"""Fixtures for scoring tests: the real bundled model, loaded once per session."""

from __future__ import annotations

import pytest

from scoring.sentiment import SentimentModel


@pytest.fixture(scope="session")
def sentiment_model() -> SentimentModel:
    """The bundled fine-tuned model, as production loads it."""
    return SentimentModel.load()
