"""Plain text from the HTML fragments that sources serve (posts, comments, question bodies).

One conversion for every source, so that a mention reads the same wherever it came from:
tags dropped, entities unescaped, a blank line between blocks (paragraphs, headings,
lists, quotes, code blocks), a line break for ``<br>`` and each list item or table row,
runs of HTML white space folded to one space, except inside ``<pre>``, whose lines and
indentation are kept. ``<script>``, ``<style>`` and other text that is never shown are
dropped. A non-breaking space (``&nbsp;``) is not HTML white space and stays.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

# Tags after which text starts a new paragraph (a blank line before and after).
_PARAGRAPH = frozenset(
    {
        "p",
        "div",
        "pre",
        "blockquote",
        "ul",
        "ol",
        "table",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "header",
        "footer",
        "figure",
        "figcaption",
    }
)
# Tags that start a new line.
_LINE = frozenset({"br", "li", "tr", "hr"})
# Tags whose text is never shown.
_HIDDEN = frozenset({"script", "style", "template", "head", "title"})
# HTML's white space (not Python's \s: a non-breaking space is a character, not a gap).
_HTML_SPACE = re.compile(r"[ \t\r\n\f]+")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    """Collects the text of an HTML fragment, with line breaks where blocks break."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._pre = 0
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
            return
        if tag in _PARAGRAPH:
            self.parts.append("\n\n")
        elif tag in _LINE:
            self.parts.append("\n")
        if tag == "pre":
            self._pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(self._hidden - 1, 0)
            return
        if tag == "pre":
            self._pre = max(self._pre - 1, 0)
        if tag in _PARAGRAPH:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        if not self._pre:
            data = _HTML_SPACE.sub(" ", data)
            if not self.parts or self.parts[-1].endswith("\n"):
                data = data.lstrip(" ")  # a line does not start with a space
        if data:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities unescaped, paragraphs kept.

    Args:
        html: an HTML fragment, as a source's API serves it.

    Returns:
        The text, blocks a blank line apart, ``<br>`` and list items on their own lines,
        ``<pre>`` blocks verbatim, without leading or trailing white space.
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = _TRAILING_SPACE.sub("\n", "".join(parser.parts))
    return _BLANK_LINES.sub("\n\n", text).strip()
