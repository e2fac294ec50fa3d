"""The brand query language of the watch list: parsed on load, matched against every mention.

A brand's ``query`` in the watch list is written in this language and checked when the
watch list loads. Sources' own search is fuzzy (stemming, substring, ranking), so the
collector's runner checks each fetched mention against the brand's full query before
storing it. The language::

    "acme corp"        a phrase: these words, in this order, whitespace between them
    acme               a bare word (a phrase of one word)
    a b   a AND b      both (adjacent terms are joined by AND)
    a OR b             either
    -a   NOT a         not a; ``-`` sticks to a word, a phrase or a group: -(a OR b)
    ( ... )            grouping
    lang:en            the mention's language is ``en`` (or ``en-US``, ``en_GB``...)

Precedence, tightest first: ``-``/``NOT``, then ``AND`` (explicit or implicit), then
``OR``; so ``a b OR c`` is ``(a b) OR c``. ``OR``, ``AND`` and ``NOT`` are operators only
in upper case; ``or`` is a word. A phrase runs to the next double quote (no escapes).

Matching is case-insensitive (Unicode case folding after NFKC, so full-width letters,
``Acme`` and ``ACME`` are alike; typographic apostrophes count as ``'``) and on whole words:
a term matches where it is neither preceded nor followed by a letter, digit or ``_`` that
would carry its word on. So ``acme`` matches ``@acme``, ``#acme``, ``Acme's`` and ``ACME!``
but not ``acmeville``, ``acmé`` or ``@acme_support``; ``"@acme"`` matches the handle only.
What carries a word on depends on the script:

* a term that begins or ends in a Latin letter is carried on only by Latin letters (and
  their accents), digits and ``_``: a letter of another script beside it is a boundary,
  as in ``Acmeのアプリ``, ``我用Acme``, ``Acme는`` (a Korean particle), ``לAcme`` (a
  Hebrew prefix) or a Russian case ending after it;
* a term that begins or ends in a script written without spaces between words (Han,
  Hiragana, Katakana, Thai, Lao, Myanmar, Khmer, Tibetan...) has no boundary to find on
  that side: ``任天堂`` is found inside ``昨日任天堂のゲームを買った``;
* any other term (Cyrillic, Greek, Hangul, Arabic...) is carried on by letters and digits
  of any script but those written without spaces.

A mention's title and text both count; a phrase does not run from the title into the text.

A mention whose language is unknown (``lang`` is None, empty or ``und``) *passes*
every ``lang:`` filter, negated or not: a filter never drops a mention only because
its source does not say which language it is in (Hacker News, RSS...). Parse with
``unknown_lang_passes=False`` to make such a mention fail every ``lang:`` filter.

A query must need at least one term that is not excluded on every path to a match:
``-acme``, ``lang:en`` and ``acme OR -globex`` are refused, since each would match
nearly every post and a source could not search for it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from goodwill.models import Mention

__all__ = ["MAX_DEPTH", "Query", "QuerySyntaxError"]


class QuerySyntaxError(ValueError):
    """A query cannot be parsed; ``column`` (1-based) says where, ``expected`` what was wanted."""

    def __init__(self, message: str, *, column: int | None = None, expected: str = "") -> None:
        super().__init__(message)
        self.column = column
        self.expected = expected


# --- normalisation -------------------------------------------------------------------

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\uff07": "'"})


def _fold(text: str) -> str:
    """Text as the matcher compares it: NFKC, case-folded, typographic apostrophes as '."""
    if text.isascii():  # the common case, and NFKC / casefold are identities but for case
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold().translate(_APOSTROPHES)


_UNKNOWN_LANGS = frozenset({"", "und", "unknown", "zxx"})
#: How deep groups and negations may nest (deeper is refused with a clear message).
MAX_DEPTH = 50
_LANG_CODE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$")

# Mentions join title and text with a character that is neither a word character nor
# whitespace, so no term matches across the join.
_TITLE_JOIN = "\x00"


# --- syntax tree ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Term:
    text: str  # as written, whitespace collapsed (what a source's search is given)
    key: str  # folded: what is matched and printed
    column: int


@dataclass(frozen=True)
class _Lang:
    code: str
    column: int


@dataclass(frozen=True)
class _Not:
    child: _Node
    column: int


@dataclass(frozen=True)
class _And:
    children: tuple[_Node, ...]


@dataclass(frozen=True)
class _Or:
    children: tuple[_Node, ...]
    columns: tuple[int, ...]  # where each alternative starts


_Node = _Term | _Lang | _Not | _And | _Or


# --- tokens --------------------------------------------------------------------------

_LPAREN, _RPAREN, _NOT, _AND, _OR, _TERM, _LANG, _END = (
    "(",
    ")",
    "NOT",
    "AND",
    "OR",
    "term",
    "lang",
    "end",
)
_KEYWORDS = {"AND": _AND, "OR": _OR, "NOT": _NOT}
_WORD_END = frozenset(' \t\r\n\f\v()"')


@dataclass(frozen=True)
class _Token:
    kind: str
    value: str
    column: int  # 1-based


def _tokens(text: str) -> Iterator[_Token]:
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        column = i + 1
        if char.isspace():
            i += 1
        elif char in "()":
            yield _Token(char, char, column)
            i += 1
        elif char == "-":
            following = text[i + 1] if i + 1 < n else ""
            if following == "" or following.isspace() or following == ")":
                raise QuerySyntaxError(
                    f"nothing directly after - at column {column}: expected a word, a phrase "
                    'or a group right after it, with no space: -word, -"a phrase", -(a group)',
                    column=column,
                    expected="a word, phrase or group",
                )
            yield _Token(_NOT, "-", column)
            i += 1
        elif char == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise QuerySyntaxError(
                    f"unclosed quote opened at column {column}: expected a closing double quote",
                    column=column,
                    expected='"',
                )
            phrase = " ".join(text[i + 1 : end].split())
            if not phrase:
                raise QuerySyntaxError(
                    f'empty phrase "" at column {column}: expected words between the quotes',
                    column=column,
                    expected="a phrase",
                )
            yield _Token(_TERM, phrase, column)
            i = end + 1
        else:
            end = i
            while end < n and text[end] not in _WORD_END and not text[end].isspace():
                end += 1
            word = text[i:end]
            if word in _KEYWORDS:
                yield _Token(_KEYWORDS[word], word, column)
            elif word[:5].lower() == "lang:":
                code = word[5:].lower().replace("_", "-")
                if not _LANG_CODE.match(code):
                    raise QuerySyntaxError(
                        f"bad language filter {word!r} at column {column}: "
                        "expected a language code such as lang:en or lang:pt-br",
                        column=column,
                        expected="a language code",
                    )
                yield _Token(_LANG, code, column)
            else:
                yield _Token(_TERM, word, column)
            i = end
    yield _Token(_END, "", n + 1)


# --- parser (recursive descent: or := and (OR and)*; and := unary (AND? unary)*) ------

_STARTS_OPERAND = frozenset({_LPAREN, _NOT, _TERM, _LANG})


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = list(_tokens(text))
        self.position = 0
        self.depth = 0

    @property
    def peek(self) -> _Token:
        return self.tokens[self.position]

    def take(self) -> _Token:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def parse(self) -> _Node:
        if self.peek.kind == _END:
            raise QuerySyntaxError(
                "the query is empty: expected a word, a phrase or a group",
                column=1,
                expected="a word, phrase or group",
            )
        node = self.parse_or()
        token = self.peek
        if token.kind == _RPAREN:
            raise QuerySyntaxError(
                f"unexpected ) at column {token.column}: no parenthesis is open",
                column=token.column,
                expected="a word, phrase, group or OR",
            )
        return node

    def _operand_expected(self, after: _Token) -> None:
        token = self.peek
        if token.kind not in _STARTS_OPERAND:
            raise QuerySyntaxError(
                f"nothing after {after.value} at column {after.column}: "
                "expected a word, a phrase or a group",
                column=after.column,
                expected="a word, phrase or group",
            )

    def _operator_first(self) -> None:
        token = self.peek
        if token.kind in (_OR, _AND):
            raise QuerySyntaxError(
                f"nothing before {token.value} at column {token.column}: "
                "expected a word, a phrase or a group",
                column=token.column,
                expected="a word, phrase or group",
            )

    def parse_or(self) -> _Node:
        self._operator_first()
        columns = [self.peek.column]
        children = [self.parse_and()]
        while self.peek.kind == _OR:
            operator = self.take()
            self._operand_expected(operator)
            columns.append(self.peek.column)
            children.append(self.parse_and())
        if len(children) == 1:
            return children[0]
        flat: list[_Node] = []
        flat_columns: list[int] = []
        for child, column in zip(children, columns, strict=True):
            if isinstance(child, _Or):
                flat.extend(child.children)
                flat_columns.extend(child.columns)
            else:
                flat.append(child)
                flat_columns.append(column)
        return _Or(tuple(flat), tuple(flat_columns))

    def parse_and(self) -> _Node:
        self._operator_first()
        children = [self.parse_unary()]
        while self.peek.kind == _AND or self.peek.kind in _STARTS_OPERAND:
            if self.peek.kind == _AND:
                self._operand_expected(self.take())
            children.append(self.parse_unary())
        if len(children) == 1:
            return children[0]
        flat: list[_Node] = []
        for child in children:
            flat.extend(child.children if isinstance(child, _And) else (child,))
        return _And(tuple(flat))

    def _deeper(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QuerySyntaxError(
                f"the query nests more than {MAX_DEPTH} groups or negations deep at column "
                f"{token.column}: write it flatter",
                column=token.column,
                expected="a flatter query",
            )

    def parse_unary(self) -> _Node:
        if self.peek.kind == _NOT:
            operator = self.take()
            self._operand_expected(operator)
            self._deeper(operator)
            node = _Not(self.parse_unary(), operator.column)
            self.depth -= 1
            return node
        return self.parse_primary()

    def parse_primary(self) -> _Node:
        token = self.take()
        if token.kind == _TERM:
            written = unicodedata.normalize("NFKC", token.value)
            return _Term(" ".join(written.split()), _fold(token.value), token.column)
        if token.kind == _LANG:
            return _Lang(token.value, token.column)
        if token.kind == _LPAREN:
            if self.peek.kind == _RPAREN:
                raise QuerySyntaxError(
                    f"empty parentheses at column {token.column}: "
                    "expected a word, a phrase or a group inside",
                    column=token.column,
                    expected="a word, phrase or group",
                )
            if self.peek.kind == _END:
                raise self._unclosed(token)
            self._deeper(token)
            inner = self.parse_or()
            self.depth -= 1
            if self.peek.kind != _RPAREN:
                raise self._unclosed(token)
            self.take()
            return inner
        if token.kind == _RPAREN:
            raise QuerySyntaxError(
                f"unexpected ) at column {token.column}: no parenthesis is open",
                column=token.column,
                expected="a word, phrase or group",
            )
        raise AssertionError(f"unexpected token {token}")  # callers check _STARTS_OPERAND

    @staticmethod
    def _unclosed(token: _Token) -> QuerySyntaxError:
        return QuerySyntaxError(
            f"unclosed parenthesis opened at column {token.column}: expected )",
            column=token.column,
            expected=")",
        )


# --- checks on the tree --------------------------------------------------------------


def _positive_terms(node: _Node, negated: bool = False) -> Iterator[_Term]:
    """The terms a match may need present (those under an even number of negations)."""
    if isinstance(node, _Term):
        if not negated:
            yield node
    elif isinstance(node, _Not):
        yield from _positive_terms(node.child, not negated)
    elif isinstance(node, _And | _Or):
        for child in node.children:
            yield from _positive_terms(child, negated)


def _unanchored(node: _Node, negated: bool = False) -> int | None:
    """Column of an alternative that can match with no positive term present, or None.

    A node is anchored when every match of it contains a term that is not excluded.
    Returns 0 when the node as a whole is unanchored but no narrower column helps.
    """
    if isinstance(node, _Term):
        return None if not negated else 0
    if isinstance(node, _Lang):
        return 0
    if isinstance(node, _Not):
        return _unanchored(node.child, not negated)
    conjunction = isinstance(node, _And) != negated  # De Morgan under a negation
    if conjunction:
        found = [_unanchored(child, negated) for child in node.children]
        return None if any(column is None for column in found) else 0
    columns = node.columns if isinstance(node, _Or) else (0,) * len(node.children)
    for child, column in zip(node.children, columns, strict=True):
        inner = _unanchored(child, negated)
        if inner is not None:
            return inner or column
    return None


# --- printing ------------------------------------------------------------------------

_PREC_OR, _PREC_AND, _PREC_NOT = 1, 2, 3


def _format(node: _Node, parent: int = 0) -> str:
    if isinstance(node, _Term):
        return f'"{node.key}"'
    if isinstance(node, _Lang):
        return f"lang:{node.code}"
    if isinstance(node, _Not):
        return "-" + _format(node.child, _PREC_NOT)
    if isinstance(node, _And):
        text = " ".join(_format(child, _PREC_AND) for child in node.children)
        return f"({text})" if parent > _PREC_AND else text
    text = " OR ".join(_format(child, _PREC_OR) for child in node.children)
    return f"({text})" if parent > _PREC_OR else text


# --- compiling to a matcher ----------------------------------------------------------

_Matcher = Callable[[str, str | None], bool]

# Scripts written without spaces between words: Han (and its radicals, iteration marks and
# supplementary planes), Hiragana, Katakana (and their half-width forms, the prolonged sound
# mark and the kana supplements), Thai, Lao, Tibetan, Myanmar, Khmer, the Tai scripts, Yi,
# Javanese and Balinese. A term in one of them is found inside text of it; beside one of
# their letters any term still begins or ends ("Acmeのアプリ" names "acme").
_UNSPACED = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u0f00-\u0fff"  # Tibetan
    "\u1000-\u109f\ua9e0-\ua9ff\uaa60-\uaa7f"  # Myanmar and its extensions
    "\u1780-\u17ff\u19e0-\u19ff"  # Khmer, Khmer symbols
    "\u1950-\u19df\u1a20-\u1aaf\uaa80-\uaadf"  # Tai Le, New Tai Lue, Tai Tham, Tai Viet
    "\u1b00-\u1b7f\ua980-\ua9df"  # Balinese, Javanese
    "\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3031-\u3035\u303b\u303c"  # Han radicals, marks
    "\u3040-\u30ff\u31f0-\u31ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han
    "\ua000-\ua4cf"  # Yi
    "\uff66-\uff9f"  # half-width Katakana
    "\U0001b000-\U0001b16f"  # kana supplements
    "\U00020000-\U0003134f"  # Han, supplementary planes
)
_UNSPACED_CHAR = re.compile(f"[{_UNSPACED}]")
# Letters of the Latin script (basic, Latin-1, extended, IPA, phonetic, additional) and the
# combining marks that sit on them.
_LATIN = (
    "A-Za-z\u00aa\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02af\u1d00-\u1dbf"
    "\u1e00-\u1eff\u2c60-\u2c7f\ua720-\ua7ff\uab30-\uab6f"
    "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
)
_LATIN_CHAR = re.compile(f"[{_LATIN}]")
# What carries a word on beside a term's edge (see the module's docstring): a Latin edge is
# carried on by Latin letters, digits and "_" only; another edge by a letter, digit or "_"
# of any script written with spaces.
_JOINS_LATIN = rf"[{_LATIN}\d_]"
_JOINS_SPACED = rf"[^\W{_UNSPACED}]"


def _boundary(edge: str, *, before: bool) -> str:
    """The lookaround that keeps a term's ``edge`` character from running on into a word."""
    if _UNSPACED_CHAR.match(edge):
        return ""  # words run together in that script: no boundary to find
    joins = _JOINS_LATIN if _LATIN_CHAR.match(edge) else _JOINS_SPACED
    return f"(?<!{joins})" if before else f"(?!{joins})"


def _term_matcher(term: _Term, negated: bool) -> _Matcher:
    words = term.key.split()
    pattern = re.compile(
        _boundary(term.key[0], before=True)
        + r"\s+".join(map(re.escape, words))
        + _boundary(term.key[-1], before=False)
    )
    search = pattern.search
    first = words[0]  # a substring test is far cheaper than the regex, and rules out most texts

    if negated:

        def absent(text: str, lang: str | None) -> bool:
            return first not in text or search(text) is None

        return absent

    def present(text: str, lang: str | None) -> bool:
        return first in text and search(text) is not None

    return present


def _lang_matcher(code: str, negated: bool, unknown_passes: bool) -> _Matcher:
    prefix = code + "-"

    def check(text: str, lang: str | None) -> bool:
        if lang is None:
            return unknown_passes
        return (lang == code or lang.startswith(prefix)) != negated

    return check


def _compile(node: _Node, negated: bool, unknown_passes: bool) -> _Matcher:
    """A matcher for ``node`` (negated if asked), with negations pushed down to the leaves."""
    if isinstance(node, _Term):
        return _term_matcher(node, negated)
    if isinstance(node, _Lang):
        return _lang_matcher(node.code, negated, unknown_passes)
    if isinstance(node, _Not):
        return _compile(node.child, not negated, unknown_passes)
    # Language checks first: they cost nothing and often decide.
    ordered = sorted(node.children, key=lambda child: not isinstance(child, _Lang))
    parts = tuple(_compile(child, negated, unknown_passes) for child in ordered)
    conjunction = isinstance(node, _And) != negated

    if conjunction:

        def every(text: str, lang: str | None) -> bool:
            # A plain loop: all() over a generator costs more on this hot path.
            for part in parts:  # noqa: SIM110
                if not part(text, lang):
                    return False
            return True

        return every

    def some(text: str, lang: str | None) -> bool:
        for part in parts:  # noqa: SIM110 (as above)
            if part(text, lang):
                return True
        return False

    return some


def _fold_lang(lang: str | None) -> str | None:
    if lang is None:
        return None
    folded = lang.strip().lower().replace("_", "-")
    return None if folded in _UNKNOWN_LANGS else folded


# --- the public object ---------------------------------------------------------------


class Query:
    """A parsed brand query; build one with ``Query.parse``.

    Queries are immutable; two queries are equal when their canonical forms are
    (and they treat an unknown language alike).
    """

    __slots__ = ("_canonical", "_match", "_terms", "source", "unknown_lang_passes")

    def __init__(self, tree: _Node, source: str, unknown_lang_passes: bool) -> None:
        self.source = source
        self.unknown_lang_passes = unknown_lang_passes
        terms: dict[str, str] = {}
        for term in _positive_terms(tree):
            terms.setdefault(term.key, term.text)
        self._terms = tuple(terms.values())
        self._canonical = _format(tree)
        self._match = _compile(tree, False, unknown_lang_passes)

    @classmethod
    def parse(cls, text: str, *, unknown_lang_passes: bool = True) -> Query:
        """Parse ``text``; raise ``QuerySyntaxError`` saying where and what was expected.

        ``unknown_lang_passes``: whether a mention of unknown language passes ``lang:``
        filters (the default) or fails them.
        """
        tree = _Parser(text).parse()
        if not any(True for _ in _positive_terms(tree)):
            raise QuerySyntaxError(
                "a query must include at least one term that is not excluded, "
                'e.g. "acme" -"acme anvils"',
                expected="a word or phrase that is not excluded",
            )
        column = _unanchored(tree)
        if column is not None:
            where = f" at column {column}" if column else ""
            raise QuerySyntaxError(
                f"the alternative{where} can match without any term that is not excluded, "
                "so it would match nearly every post: give each side of OR a word or phrase "
                'to look for, e.g. "acme" OR ("acme corp" -"acme anvils")',
                column=column or None,
                expected="a word or phrase that is not excluded",
            )
        return cls(tree, text, unknown_lang_passes)

    @property
    def terms(self) -> tuple[str, ...]:
        """The words and phrases a match may contain (not the excluded ones), for sources' search.

        In order of first appearance, as written (whitespace collapsed), without
        case-insensitive duplicates.
        """
        return self._terms

    def matches_text(self, text: str, lang: str | None = None) -> bool:
        """Whether ``text``, in language ``lang`` (None: unknown), matches the query."""
        return self._match(_fold(text), _fold_lang(lang))

    def matches(self, mention: Mention) -> bool:
        """Whether ``mention`` matches the query (its title and its text both count)."""
        text = mention.text if not mention.title else mention.title + _TITLE_JOIN + mention.text
        return self._match(_fold(text), _fold_lang(mention.lang))

    def __str__(self) -> str:
        return self._canonical

    def __repr__(self) -> str:
        return f"Query.parse({self._canonical!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Query):
            return NotImplemented
        return (self._canonical, self.unknown_lang_passes) == (
            other._canonical,
            other.unknown_lang_passes,
        )

    def __hash__(self) -> int:
        return hash((self._canonical, self.unknown_lang_passes))
