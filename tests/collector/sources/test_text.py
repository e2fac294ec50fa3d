"""html_to_text: the one HTML-to-plain-text conversion every source uses."""

from __future__ import annotations

import pytest

from collector.sources._text import html_to_text


def test_html_to_text_keeps_paragraphs_and_unescapes() -> None:
    """Paragraphs are a blank line apart, <br> a line break, entities unescaped, scripts gone."""
    html = "<p>One &lt;b&gt; &amp;  two</p>\n<p>three<br>four</p><script>alert(1)</script>"
    assert html_to_text(html) == "One <b> & two\n\nthree\nfour"
    assert html_to_text("plain text") == "plain text"


def test_pre_blocks_keep_their_lines_and_indentation() -> None:
    """Inside <pre> white space is kept; the block is a paragraph of its own."""
    html = (
        "<p>It fails:</p>\n\n<pre><code>import acme\n    acme.connect()\n</code></pre>\n<p>Why?</p>"
    )
    assert html_to_text(html) == "It fails:\n\nimport acme\n    acme.connect()\n\nWhy?"


def test_leading_indentation_of_a_pre_block_survives_after_text() -> None:
    """A <pre> after inline text keeps the indentation of its first line."""
    html = "See<p><pre><code>  acme --fly\n    indented\n</code></pre>"
    assert html_to_text(html) == "See\n\n  acme --fly\n    indented"


def test_white_space_outside_pre_folds_to_one_space() -> None:
    """Runs of HTML white space become one space; lines carry no leading or trailing spaces."""
    assert html_to_text("  a \t\n  b  <br>  c  ") == "a b\nc"
    assert html_to_text("<p>a</p> <b> x</b>") == "a\n\nx"


def test_a_non_breaking_space_is_kept() -> None:
    """&nbsp; is a character, not HTML white space: it is neither folded nor dropped."""
    assert html_to_text("40,000 pairs&nbsp;...") == "40,000 pairs\xa0..."


def test_entities_are_unescaped() -> None:
    """Named, decimal and hex references all become their characters."""
    assert html_to_text("I&#39;m &quot;here&quot; &amp; Acme&#x27;s &gt; &hellip;") == (
        "I'm \"here\" & Acme's > …"
    )


def test_list_items_and_table_rows_are_lines() -> None:
    """Each <li> and <tr> starts a line; the list itself is a paragraph."""
    html = "<p>Steps:</p><ul>\n<li>one</li>\n<li>two</li>\n</ul><table><tr><td>a</td></tr><tr><td>b</td></tr></table>"
    assert html_to_text(html) == "Steps:\n\none\ntwo\n\na\nb"


@pytest.mark.parametrize("tag", ["h2", "blockquote", "div", "section", "article", "figcaption"])
def test_block_elements_are_paragraphs(tag: str) -> None:
    """Headings, quotes and other blocks are a blank line away from their neighbours."""
    assert html_to_text(f"before<{tag}>inside</{tag}>after") == "before\n\ninside\n\nafter"


@pytest.mark.parametrize("tag", ["script", "style", "template", "title"])
def test_text_that_is_never_shown_is_dropped(tag: str) -> None:
    """The content of <script>, <style>, <template> and <title> is not text."""
    assert html_to_text(f"<p>shown<{tag}>hidden</{tag}> too</p>") == "shown too"


def test_blank_lines_collapse_and_the_ends_are_trimmed() -> None:
    """Many block boundaries in a row give one blank line; the text has no outer white space."""
    assert html_to_text("<div><p><p>a</p></p></div>\n\n<div></div><p>b</p>\n") == "a\n\nb"


def test_an_empty_or_markup_only_fragment_is_empty() -> None:
    """A fragment with no text (a media-only post) gives the empty string."""
    assert html_to_text("") == ""
    assert html_to_text("<p></p><br/>") == ""
