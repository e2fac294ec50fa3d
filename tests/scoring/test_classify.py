"""``goodwill classify``'s JSON lines: safe on a terminal, the same text when read back."""

from __future__ import annotations

import io
import json

from scoring.classify import classify_lines
from scoring.sentiment import SentimentModel

# Clear the screen, retitle the window, ring, an 8-bit CSI, DEL, a right-to-left override.
HOSTILE = "Acme \x1b[2J\x1b]0;pwned\x07 lost my bag \x9b31m\x7f\u202e again"


def test_control_characters_in_texts_are_written_as_json_escapes(
    sentiment_model: SentimentModel,
) -> None:
    """No C0, C1, DEL or bidi override reaches the output raw; JSON still reads the text back."""
    out = io.StringIO()
    lines = [HOSTILE, json.dumps({"id": 1, "text": HOSTILE, "note": "\x85\u2066"})]
    assert classify_lines(sentiment_model, lines, out) == 2
    written = out.getvalue()
    for raw in ("\x1b", "\x07", "\x9b", "\x7f", "\x85", "\u202e", "\u2066"):
        assert raw not in written, repr(raw)
    assert "\\u001b[2J" in written and "\\u009b31m" in written and "\\u202e" in written
    rows = [json.loads(line) for line in written.splitlines()]
    assert [row["text"] for row in rows] == [HOSTILE, HOSTILE]
    assert rows[1]["note"] == "\x85\u2066" and rows[0]["label"] in ("negative", "neutral")
