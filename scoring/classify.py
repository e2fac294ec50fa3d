"""``goodwill classify``: score texts from a file or stdin, for checking the model on your data.

Input is one text per line, or JSON lines with a ``text`` field (other fields are
passed through). Output is JSON lines, one per input line, in order, with ``label``,
``probabilities`` (negative / neutral / positive), ``complaint``, ``complaint_score``,
``complaint_kind``, ``complaint_category``, ``reasons`` and, from a two-headed model,
``kinds``: its kind head's probabilities (complaint, negative opinion, question, other). A JSON line without a
usable ``text`` gets an ``error`` field instead of scores: nothing is dropped.

The output is safe on a terminal: JSON escapes C0 controls itself, and DEL, C1 controls,
bidirectional overrides and lone surrogates (which JSON may carry raw) are written as
``\\u`` escapes too, so the same JSON reads back the same text, and an ``ESC [2J`` in a
post never clears the screen of whoever runs ``goodwill classify``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, TextIO

from scoring.complaints import detect
from scoring.sentiment import SentimentModel

__all__ = ["classify_lines", "read_records"]

_CHUNK = 256
# What JSON may carry raw but a terminal obeys or cannot print: DEL, C1 controls,
# bidirectional embeddings/overrides/isolates, lone surrogates (C0 is escaped by json).
_TERMINAL_UNSAFE = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _json_line(record: dict[str, Any]) -> str:
    """``record`` as one JSON line with nothing a terminal would obey written raw."""
    text = json.dumps(record, ensure_ascii=False)
    return _TERMINAL_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def read_records(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Each input line as a record: a JSON object's fields, or ``{"text": line}``."""
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        record: dict[str, Any] | None = None
        if line.lstrip().startswith("{"):
            try:
                parsed = json.loads(line)
            except ValueError:
                parsed = None  # a text that happens to start with "{"
            if isinstance(parsed, dict):
                record = parsed
        if record is None:
            record = {"text": line}
        record.setdefault("line", number)
        yield record


def classify_lines(
    model: SentimentModel,
    lines: Iterable[str],
    out: TextIO,
    *,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Score every record read from ``lines`` and write one JSON line each to ``out``."""
    records = read_records(lines)
    written = 0
    while chunk := list(islice(records, _CHUNK)):
        usable = [r for r in chunk if isinstance(r.get("text"), str)]
        sentiments = iter(model.predict([r["text"] for r in usable], batch_size=batch_size))
        for record in chunk:
            if not isinstance(record.get("text"), str):
                record["error"] = "no 'text' field with a string in this JSON line"
            else:
                sentiment = next(sentiments)
                verdict = detect(record["text"], sentiment)
                record.update(
                    label=sentiment.label.value,
                    probabilities={
                        k.value: round(v, 4) for k, v in sentiment.probabilities.items()
                    },
                    complaint=verdict.is_complaint,
                    complaint_score=round(verdict.score, 4),
                    complaint_kind=verdict.kind,
                    complaint_category=verdict.category,
                    reasons=list(verdict.reasons),
                    model_version=sentiment.model_version,
                )
                if sentiment.kinds is not None:
                    record["kinds"] = {k: round(v, 4) for k, v in sentiment.kinds.items()}
            out.write(_json_line(record) + "\n")
            written += 1
        if progress is not None:
            progress(written)
    return written
