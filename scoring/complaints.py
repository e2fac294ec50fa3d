"""Complaint detection: is a post a customer saying the brand failed them, and how?

Negative sentiment is not a complaint: "I hate flying" is negative and no one's
failure, "the app crashes when I upload a photo" is calm and a defect report.
:func:`detect` reads a post with transparent signals and combines them with the
sentiment model's negative probability into one score:

- **failure lexicons**, one per category (delay, cancellation, baggage, ...):
  word-boundary patterns of a failure happening ("delayed 3 hours", "lost my
  bag", "on hold"), each skipped when negated ("no delay today");
- **topic words** of each category ("bag", "refund", "gate agent"), which only
  pick the category when the failure itself is said in general words
  ("unacceptable", "nightmare");
- **first-person experience** ("my flight", "we've been", "flight 1701",
  "2 hours", "today"): it happened to the author;
- **question form** and **requests for help** ("please help", "DM me");
- **opinion markers**: generalisations, policies, retweets of the brand's own
  posts ("always late", "your policy", "RT @brand:"): negativity that is not a
  personal failure.

The score is a logistic combination of those signals with fixed weights
(:data:`WEIGHTS`, fitted on the DEV half of the labelled tweets in
``scoring/data/`` and rounded; ``python -m scoring.complaint_eval --fit`` refits
them). It reads as the probability that a person following
``scoring/data/COMPLAINT_GUIDELINES.md`` would call the post a complaint, on a
sample where about half the posts are complaints. A post is a complaint when the
score reaches :data:`COMPLAINT_THRESHOLD`.

Everything is regular expressions over the first :data:`MAX_CHARS` characters:
no second model; about 19,000 tweets a second on one thread of the 2-core
development machine (``python -m scoring.complaint_eval`` prints the figure).
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from goodwill.models import Sentiment, SentimentLabel
from scoring.categories import category_of, readable

__all__ = [
    "CATEGORIES",
    "COMPLAINT_THRESHOLD",
    "MAX_CHARS",
    "MODEL_COMPLAINT_THRESHOLD",
    "WEIGHTS",
    "ComplaintKind",
    "ComplaintVerdict",
    "detect",
    "signals",
]

#: A post is a complaint when its score is at least this. 0.5 is the point where the
#: fitted score says "more likely a complaint than not"; it was not tuned further.
COMPLAINT_THRESHOLD = 0.5
#: With a two-headed model, a post is a complaint when the model's probability of the
#: kind "complaint" is at least this (chosen on the DEV part of the labelled set).
MODEL_COMPLAINT_THRESHOLD = 0.5

#: Only the first this many characters are read (the sentiment model reads fewer);
#: a 100 KB post costs no more than a long review.
MAX_CHARS = 2000

ComplaintKind = Literal["complaint", "negative_opinion", "question", "other"]

#: The failures a complaint can be about, in the order that breaks ties between them.
CATEGORIES: tuple[str, ...] = (
    "cancellation",
    "delay",
    "lost or damaged baggage",
    "billing/refund",
    "booking/website",
    "defect/outage",
    "staff",
    "customer service",
    "onboard experience",
    "other",
)

#: Weights of the logistic score: ``score = sigmoid(bias + sum(weight * signal))``.
#: ``negative`` multiplies the log-odds of the model's negative probability (clipped
#: to +-4; 0 when no sentiment is given); the others multiply 0/1 signals. Fitted by
#: L2-regularised (1.0) logistic regression on the DEV half only, then rounded to 0.05.
WEIGHTS: dict[str, float] = {
    "bias": -1.1,
    "negative": 0.65,
    "failure": 1.95,
    "general_failure": 0.65,
    "experience": 0.5,
    "question": -1.25,
    "help": 0.65,
    "opinion": -1.85,
}


@dataclass(frozen=True, slots=True)
class ComplaintVerdict:
    """What :func:`detect` found in one post.

    Attributes:
        is_complaint: ``score >= COMPLAINT_THRESHOLD``; the same as ``kind == "complaint"``.
        score: How likely the post is a complaint, in [0, 1].
        category: The failure complained of (one of :data:`CATEGORIES`), or ``None``
            when the post is not a complaint.
        reasons: Readable evidence, e.g. ``'delay: "delayed 3 hours"'``,
            ``'first-person experience: "my flight"'``, ``'negative sentiment 0.93'``.
        kind: ``complaint``, ``negative_opinion`` (negative, no personal failure),
            ``question`` (asks, reports no failure) or ``other``.
    """

    is_complaint: bool
    score: float
    category: str | None
    reasons: list[str] = field(default_factory=list)
    kind: ComplaintKind = "other"

    def to_document(self) -> dict[str, Any]:
        """The verdict as the fields stored with a mention."""
        return {
            "is_complaint": self.is_complaint,
            "score": self.score,
            "category": self.category,
            "reasons": list(self.reasons),
            "kind": self.kind,
        }


# --- Reading the text -------------------------------------------------------------------

# The bundled corpus (shown as demo data by the replay source) had words replaced by
# its publisher: "late" -> "Late Flight", "cancel" -> "Cancelled Flight", "book" ->
# "Flight Booking Problems" ("reLate Flightd", "Cancelled Flightled"...). Undo them.
_CORPUS_ARTEFACTS = (
    ("Flight Booking Problems", "book"),
    ("Cancelled Flight", "cancel"),
    ("Late Flight", "late"),
)
_TAG = re.compile(r"<[^<>]{0,200}>")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HASHTAG = re.compile(r"#(\w+)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_MENTION = re.compile(r"@\w+")
# A retweet or quote of someone's post ("RT @x:", "Welp. @x:", "\"@x: ..."), not a post
# that merely starts by addressing the brand ("@united: my bag is lost").
_QUOTED_POST = re.compile(r"\bRT\s+@\w+\s*:|[\"“_]@\w+\s*:|[.?!]\s+@\w+\s*:", re.IGNORECASE)
_APOSTROPHE = str.maketrans({"’": "'", "‘": "'", "`": "'"})
_SPACES = re.compile(r"\s+")


def _unhashtag(match: re.Match[str]) -> str:
    # "#AlsoNoDrinkCartComingAround" says "also no drink cart coming around".
    return " " + _CAMEL.sub(" ", match.group(1)) + " "


def _clean(text: str) -> tuple[str, bool]:
    """Lower-case words to match on, and whether the post quotes someone's post (RT)."""
    text = text[:MAX_CHARS]
    for artefact, word in _CORPUS_ARTEFACTS:
        text = text.replace(artefact, word)
    # Each step only when its character is there: most posts need few of them.
    if "&" in text:
        text = html.unescape(text)
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "://" in text or "www." in text:
        text = _URL.sub(" ", text)
    quotes = ":" in text and _QUOTED_POST.search(text) is not None
    if "#" in text:
        text = _HASHTAG.sub(_unhashtag, text)
    if "@" in text:
        text = _MENTION.sub(" ", text)
    return _SPACES.sub(" ", text.translate(_APOSTROPHE)).strip().lower(), quotes


# --- Lexicons ---------------------------------------------------------------------------

_DURATION = (
    r"(?:\d+(?:\.\d+)?\+?|a|an|one|two|three|four|five|six|seven|eight|nine|ten|several|"
    r"many|few)\s*(?:hours?|hrs?|minutes?|mins?|days?)"
)
_BAG = (
    r"(?:bags?|baggage|luggage|suitcases?|stroller|car\s*seat|golf\s+bag|bike|bicycle|"
    r"guitar|gear|belongings)"
)
_BAD = (
    r"useless|terrible|horrible|awful|poor|bad|worst|lame|generic|canned|pathetic|rude|"
    r"unhelpful|clueless|incompetent"
)
_STAFF = r"(?:agents?|attendants?|staff|crew|employees?|pilots?|captain|supervisors?|team|rep)"
_CANT = (
    r"(?:can't|cant|cannot|can\s+not|couldn't|unable\s+to|not\s+able\s+to|won'?t\s+let\s+me|"
    r"doesn'?t\s+let\s+me|won'?t\s+allow\s+me\s+to|not\s+allow(?:ed|ing)?(?:\s+me)?\s+to)"
)

#: Patterns of a failure happening, per category (matched on lower-cased text).
_FAILURES: dict[str, tuple[str, ...]] = {
    "delay": (
        r"delay(?:s|ed|ing)?(?:\s+(?:by\s+|for\s+|over\s+|another\s+)?" + _DURATION + ")?",
        r"late(?:ness)?",
        r"later\s+than",
        r"tarmac",
        # Stuck in a middle seat is a booking failure; in security or traffic, no one's.
        r"stuck(?!\s+(?:in|with)\s+(?:a\s+|the\s+)?(?:middle|security|traffic|line|queue))",
        r"too\s*long",
        r"stranded",
        r"grounded",
        r"(?:sitting|sat|waiting|waited|held|trapped)\s+(?:\w+\s+){0,3}?(?:on|in|at)\s+(?:the\s+)?(?:plane|aircraft|runway|gate)",
        r"miss(?:ed|ing)?\s+(?:\w+\s+){0,2}?connect\w*",
        r"still\s+(?:waiting|sitting|here|at\s+the\s+gate|on\s+the\s+(?:plane|ground))",
        r"(?:haven't|have\s+not|hasn't|yet\s+to)\s+(?:\w+\s+)?(?:board\w*|take\s*off|taken\s+off|left|departed)",
        r"(?:waited|waiting)\s+(?:forever|for\s+" + _DURATION + ")",
        r"(?:return\w*|went\s+back)\s+to\s+the\s+gate",
        r"(?:unscheduled|unanticipated|unexpected)\s+(?:\w+\s+)?(?:stop|layover|overnight)",
        r"(?:not|never|isn't|wasn't)\s+on\s+time",
        r"taking\s+(?:so\s+)?(?:long|forever)",
        _DURATION + r"\s+(?:late|behind|on\s+(?:the\s+)?(?:plane|tarmac|runway)|at\s+the\s+gate)",
    ),
    "cancellation": (
        r"cancel\w*",
        r"offload\w*",
        r"no\s+(?:more\s+)?flights?\s+(?:left|out|tonight|today|available)",
    ),
    "lost or damaged baggage": (
        r"(?:lost|losing|lose|misplaced|mishandled|missing|damaged|broke|broken|ripped|torn|"
        r"smashed|destroyed|stole|stolen)\s+(?:\w+\s+){0,3}?" + _BAG,
        _BAG
        + r"\s+(?:\w+\s+){0,3}?(?:lost|missing|delayed|damaged|broken|never\s+(?:arrived|showed|came|made)|"
        r"didn't\s+(?:arrive|make|come|show)|left\s+behind|went\s+to|sent\s+to|turned\s+up)",
        r"(?:where|where's|wheres)\s+(?:is\s+|are\s+)?(?:my|our|the)\s+" + _BAG,
        r"(?:no|without)\s+(?:my\s+|our\s+)?" + _BAG,
        r"(?:sent|put|shipped)\s+(?:\w+\s+){0,4}?" + _BAG + r"\s+to",
        r"(?:track|trace|locate)\s+(?:down\s+)?(?:\w+\s+){0,2}?" + _BAG,
        r"theft",
    ),
    "billing/refund": (
        r"refund\w*",
        r"(?:over|double)\s*-?charged",
        r"charged\s+(?:me|us|twice|again|for|\$)",
        r"ripped\s+(?:me\s+)?off|rip\s*-?\s*off|scam\w*",
        r"(?:had|have|forced|made|make|making)\s+(?:me\s+|us\s+)?to\s+pay",
        r"pay\s+(?:more|extra|again|twice)",
        r"compensat\w*",
        r"reimburs\w*",
        r"(?:credit|voucher|miles|points)\s+(?:\w+\s+){0,4}?(?:never|not|hasn't|haven't|didn't)\s+(?:\w+\s+)?(?:came|come|arrived|received|posted|credited|showed)",
        r"demoted",
    ),
    "booking/website": (
        _CANT
        + r"\s+(?:\w+\s+){0,2}?(?:book|rebook|change|modify|cancel|check\s*-?\s*in|select|choose|"
        r"pick|access|log\s*in|login|sign\s+in|retrieve|add)",
        r"(?:mess(?:ed)?\s+up|screwed\s+up|botched)\s+(?:my\s+|our\s+)?(?:\w+\s+)?(?:rebook\w*|"
        r"reservation|booking|ticket|itinerary|seat|name)",
        r"overbook\w*|oversold|bumped|standby",
        r"middle\s+seat",
        r"took\s+away\s+my",
        r"wrong\s+(?:gate|name|date|seat|flight)",
        r"(?:issues?|problems?|trouble|errors?)\s+(?:\w+\s+){0,2}?(?:checking\s+in|check\s*-?\s*in|"
        r"booking|rebooking|book|boarding\s+pass|reservation|log\w*\s+in|seat)",
        r"(?:ticket|reservation|booking|seat|upgrade)\s*#?\s+(?:\w+\s+){0,2}?(?:was|were|got|been)\s+"
        r"(?:changed|taken|removed|lost|gone)",
    ),
    "defect/outage": (
        r"crash(?:es|ed|ing)?",
        r"(?:not|isn't|wasn't|aren't|doesn't|don't|didn't|won't|wont)\s+(?:seem\s+to\s+)?"
        r"(?:be\s+)?(?:work|working|load|loading|open|opening|connect|connecting)",
        r"(?:site|website|app|system|systems|wifi|wi-fi|internet|server|servers)\s+"
        r"(?:is|was|are|were|has\s+been|went|keeps\s+going)\s+down",
        r"broken|broke",
        r"glitch\w*|outage|error\s+messages?",
        r"system\s+(?:failure|issue|problem|outage)",
        r"mechanical|maintenance|unserviceable|inoperable",
        r"engine\s+(?:issue|problem|trouble|failure)|fix(?:ing)?\s+the\s+(?:engine|plane|aircraft)",
        r"freez(?:es|ing)\s+up",
    ),
    "staff": (
        r"rude\w*",
        r"attitude",
        r"unprofessional",
        r"disrespect\w*",
        r"condescending",
        r"(?:yell|scream|laugh)(?:ed|ing)?\s+at|laughter\s+from",
        r"threaten\w*",
        r"offended",
        r"(?:ignored|ignoring)\s+(?:me|us)",
        _STAFF + r"\s+(?:\w+\s+){0,3}?(?:a\s+)?(?:" + _BAD + r"|disaster|jerks?|sucks?)",
        r"(?:" + _BAD + r")\s+(?:\w+\s+){0,2}?" + _STAFF,
    ),
    "customer service": (
        r"on\s+hold|hold\s+times?",
        r"(?:hung|hang|hangs|hanging)\s+up|puts?\s+the\s+phone\s+down",
        r"call\s*-?\s*backs?",
        r"no\s+(?:\w+\s+)?(?:response|reply|replies|answer|answers|contact|correspondence|"
        r"notification|notice|communication|updates?|info|information|word|help|assistance|one|body|human)",
        r"(?:haven't|have\s+not|hasn't|never|not)\s+(?:\w+\s+)?(?:heard|received|gotten)\s+(?:back|a\s+"
        r"(?:response|reply|call|email)|any\w*)",
        r"(?:can't|cant|cannot|couldn't)\s+(?:even\s+)?(?:get|reach|talk|speak)\s+(?:\w+\s+){0,3}?"
        r"(?:through|anyone|someone|somebody|a\s+human|a\s+person|an\s+agent|on\s+hold|hold\s+of|answers?)",
        r"(?:speak|talk)\s+to\s+(?:a\s+)?(?:human|person|real\s+person|somebody|someone|anyone|supervisor|manager)",
        r"(?:"
        + _BAD
        + r")\s+(?:\w+\s+){0,2}?(?:customer\s+service|customer\s+care|service|support|"
        r"response|reply|answer|call\s*-?\s*cent(?:er|re)|communication|help)",
        r"(?:different|conflicting|contradicting|wrong)\s+answers?",
        r"lack\s+of\s+communication",
        r"(?:not|never|wasn't|weren't)\s+(?:been\s+)?(?:told|notified|informed|updated)",
        r"(?:should|could)\s+have\s+(?:been\s+)?(?:told|notified|informed)",
        r"without\s+(?:any\s+)?(?:notice|notification|warning)",
        r"not\s+(?:even\s+)?(?:trying\s+to\s+)?(?:help|helping|accommodat\w*)",
        r"(?:nobody|no\s+one)\s+(?:\w+\s+){0,2}?(?:help\w*|knows?|answer\w*|cares?|could|will|can|is)",
        r"(?:still|been)\s+waiting\s+(?:for|on)\s+(?:a\s+|an\s+|my\s+|your\s+)?(?:response|reply|"
        r"answer|call|email|someone|anyone)",
        r"(?:\d+|two|three|four|five|six|ten|several|multiple)\s+(?:different\s+)?(?:calls|times|agents|reps)",
        r"call\s*#\s*\d+",
    ),
    "onboard experience": (
        r"dirty|filthy|disgusting|smell\w*|stink\w*",
        r"cramped|squish\w*|squeez\w*",
        r"no\s+(?:leg\s*room|room|space)|(?:overhead|bin)\s+space|enough\s+room|full\s+seat",
        r"(?:no|without)\s+(?:\w+\s+)?(?:wifi|wi-fi|internet|entertainment|tv|movies|food|snacks?|"
        r"drinks?|water|drink\s+cart|blankets?)",
        r"(?:seated|sitting|sat)\s+apart|separated\s+from|couldn't\s+(?:\w+\s+)?sit",
    ),
}

#: Words naming a failure without saying which: they count less, and the category
#: then comes from the topic words (or is "other").
_GENERAL_FAILURE = (
    r"unacceptable|not\s+acceptable|nightmare|ridiculous|disaster|fiasco|incompeten\w*|"
    r"ruined|fail(?:ed|s|ure)?|(?:terrible|horrible|awful|worst|bad)\s+(?:experience|flight|trip)|"
    r"frustrat\w*|disappoint\w*|upset|(?:not|wasn't|isn't)\s+(?:happy|ok|okay|cool|fun|fair)|"
    r"strike\s+(?:two|three|\d)|thanks\s+for\s+nothing|no\s+thanks\s+to|"
    r"(?:lost|wasted|losing)\s+(?:\w+\s+)?(?:time|day|hours?|money)|"
    r"what(?:'s|\s+is)\s+(?:going\s+on|happening|the\s+deal)|what\s+happened|"
    r"why\s+(?:was|is|did|does|are|were|won't|can't|isn't|wasn't|haven't|hasn't)"
)

#: Words of each category's topic, used only to name the category of a general failure.
_TOPICS: dict[str, str] = {
    "lost or damaged baggage": _BAG,
    "billing/refund": r"refund\w*|fees?|charge\w*|\$\s?\d+|money|fare|voucher|credit|miles|points|paid|pay",
    "booking/website": r"reservation|booking|book|rebook\w*|itinerary|tickets?|check\s*-?\s*in|boarding\s+pass|upgrade|website|online",
    "defect/outage": r"wifi|wi-fi|app|system|engine|screen",
    "staff": _STAFF + r"|gate\s+agent",
    "customer service": r"customer\s+service|customer\s+care|phone|calls?|called|hold|email|response|reply|support",
    "onboard experience": r"seats?|legroom|food|snacks?|drinks?|cabin|overhead|blankets?|bathroom",
    "delay": r"wait\w*|connection|depart\w*|boarding",
}

_EXPERIENCE = (
    r"(?:my|our)\s+(?:\w+\s+)?(?:flights?|bags?|luggage|baggage|suitcase|seats?|tickets?|reservation|"
    r"booking|connection|trip|itinerary|boarding\s+pass|refund|family|wife|husband|son|daughter|kids?|"
    r"children|mom|dad|friend|client|attendees|car|stroller|money|miles|points|status|upgrade|"
    r"vacation|plane|call|experience)",
    r"(?:i|we|i'm|we're|i've|we've|i'd|im|ive)\s+(?:\w+\s+)?(?:was|were|am|are|been|had|got|paid|spent|"
    r"waited|waiting|sat|sitting|stuck|missed|called|tried|trying|lost|booked|checked|arrived|"
    r"landed|boarded|requested|applied|filed|sent|told|asked|spoke|talked|traveled|travelled|"
    r"need|needed|needs)",
    r"(?:flight|flt|fl)\s*#?\s*\d{1,4}|(?:ua|aa|us|b6|wn|vx)\s?\d{2,4}|#\d{3,4}",
    _DURATION,
    r"today|tonight|yesterday|last\s+night|this\s+(?:morning|afternoon|evening)|right\s+now|currently|still",
    r"(?:told|sent|charged|moved|put|left|gave|made|forced|kept|rebooked|bumped)\s+(?:me|us)",
)

_OPINION = (
    r"always|every\s*time|every\s+single|everywhere|in\s+general|never\s+(?:again|fly|flying|use|book)",
    r"all\s+(?:the\s+)?airlines|airlines\s+are|hate\s+(?:flying|airlines|airports|you)",
    r"worst\s+airline|you\s+(?:guys\s+)?suck|is\s+the\s+worst",
    r"polic(?:y|ies)|rules?|why\s+not|why\s+(?:don't|doesn't|wouldn't|won't)\s+you|you\s+should",
    r"(?:no\s+longer|stopped)\s+(?:fly|flying|serv\w*|offer\w*)",
    r"customers|passengers|people\s+who",
)

_QUESTION_START = re.compile(
    r"^(?:what|what's|whats|when|where|where's|why|how|who|which|is|are|am|can|could|will|would|"
    r"do|does|did|should|may|any|has|have)\b"
)
_HELP = re.compile(
    r"\b(?:help|please|pls|plz|dm|assist\w*|can\s+you|could\s+you|need\s+(?:someone|somebody|"
    r"assistance|help))\b"
)
_BUG_REPORT = re.compile(
    r"\b(?:steps?(?:\s+to\s+reproduce)?\s*:|repro\w*|when\s+i\s+\w+|every\s+time\s+i)"
)
_NEGATION = re.compile(
    r"\b(?:no|not|never|without|zero|nothing|(?:is|was|were|are|did|do|does|wo|has|have|had)n'?t)"
    r"\s+(?:\w+\s+){0,2}$"
)
_NEGATION_START = re.compile(r"^(?:no|not|never|without|\w+n't)\b")


def _compile(patterns: tuple[str, ...] | str) -> re.Pattern[str]:
    body = patterns if isinstance(patterns, str) else "|".join(patterns)
    return re.compile(r"\b(?:" + body + r")\b")


_FAILURE_RES = {category: _compile(patterns) for category, patterns in _FAILURES.items()}
_GENERAL_FAILURE_RE = _compile(_GENERAL_FAILURE)
_TOPIC_RES = {category: _compile(pattern) for category, pattern in _TOPICS.items()}
_EXPERIENCE_RE = _compile(_EXPERIENCE)
_OPINION_RE = _compile(_OPINION)


# --- Signals and the score ----------------------------------------------------------------


@dataclass(slots=True)
class _Evidence:
    """What the lexicons found in one cleaned post."""

    failures: dict[str, list[str]] = field(default_factory=dict)
    negated: list[str] = field(default_factory=list)
    general: list[str] = field(default_factory=list)
    experience: list[str] = field(default_factory=list)
    opinion: list[str] = field(default_factory=list)
    help: list[str] = field(default_factory=list)
    question: bool = False
    bug_report: str | None = None


def _negated(text: str, start: int, phrase: str) -> bool:
    if _NEGATION_START.match(phrase):
        return False  # the pattern itself says "no ..." ("no response", "not working")
    return _NEGATION.search(text, max(0, start - 40), start) is not None


def _read(text: str, quotes: bool) -> _Evidence:
    evidence = _Evidence()
    for category, pattern in _FAILURE_RES.items():
        for match in pattern.finditer(text):
            phrase = match.group(0)
            if _negated(text, match.start(), phrase):
                evidence.negated.append(phrase)
            else:
                evidence.failures.setdefault(category, []).append(phrase)
    evidence.general = [
        m.group(0)
        for m in _GENERAL_FAILURE_RE.finditer(text)
        if not _negated(text, m.start(), m.group(0))
    ]
    evidence.experience = [m.group(0) for m in _EXPERIENCE_RE.finditer(text)]
    evidence.opinion = [m.group(0) for m in _OPINION_RE.finditer(text)]
    if quotes:
        evidence.opinion.append("quotes another post (RT)")
    evidence.help = [m.group(0) for m in _HELP.finditer(text)]
    evidence.question = "?" in text or _QUESTION_START.match(text) is not None
    bug = _BUG_REPORT.search(text)
    evidence.bug_report = bug.group(0) if bug else None
    return evidence


def _negative_probability(sentiment: Sentiment | None) -> float | None:
    if sentiment is None:
        return None
    p = sentiment.probabilities.get(SentimentLabel.NEGATIVE)
    if p is None:  # a verdict without the full distribution: its label's probability
        p = sentiment.score if sentiment.label is SentimentLabel.NEGATIVE else 0.0
    return min(1.0, max(0.0, p))


def _log_odds(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return max(-4.0, min(4.0, math.log(p / (1 - p))))


def _signals(evidence: _Evidence, p_negative: float | None) -> dict[str, float]:
    return {
        "negative": 0.0 if p_negative is None else _log_odds(p_negative),
        "failure": float(bool(evidence.failures)),
        "general_failure": float(bool(evidence.general)),
        "experience": float(bool(evidence.experience)),
        "question": float(evidence.question),
        "help": float(bool(evidence.help)),
        "opinion": float(bool(evidence.opinion)),
    }


def signals(text: str, sentiment: Sentiment | None) -> dict[str, float]:
    """The signals :func:`detect` weighs for ``text``, by the names used in :data:`WEIGHTS`.

    ``negative`` is the clipped log-odds of the model's negative probability, the
    others are 0 or 1. Used to refit the weights (``scoring.complaint_eval --fit``).
    """
    cleaned, quotes = _clean(text)
    return _signals(_read(cleaned, quotes), _negative_probability(sentiment))


def _score(values: dict[str, float], weights: dict[str, float]) -> float:
    z = weights["bias"] + sum(weights[name] * value for name, value in values.items())
    return 1.0 / (1.0 + math.exp(-z))


def _category(evidence: _Evidence, text: str) -> str:
    def rank(category: str, hits: int) -> tuple[int, int]:
        return (hits, -CATEGORIES.index(category))

    if evidence.failures:
        return max(evidence.failures, key=lambda c: rank(c, len(evidence.failures[c])))
    topics = {c: len(p.findall(text)) for c, p in _TOPIC_RES.items()}
    topics = {c: n for c, n in topics.items() if n}
    if topics:
        return max(topics, key=lambda c: rank(c, topics[c]))
    return "other"


def _quoted(phrases: list[str], limit: int = 3) -> str:
    unique = list(dict.fromkeys(phrases))[:limit]
    return ", ".join(f'"{p}"' for p in unique)


def _reasons(
    evidence: _Evidence, p_negative: float | None, score: float, is_complaint: bool
) -> list[str]:
    reasons = [f"{c}: {_quoted(p)}" for c, p in evidence.failures.items()]
    if evidence.general:
        reasons.append(f"failure in general words: {_quoted(evidence.general)}")
    if evidence.negated:
        reasons.append(f"negated, not counted: {_quoted(evidence.negated)}")
    if evidence.experience:
        reasons.append(f"first-person experience: {_quoted(evidence.experience)}")
    if evidence.question:
        reasons.append("question form")
    if evidence.help:
        reasons.append(f"asks for help: {_quoted(evidence.help, 2)}")
    if evidence.opinion:
        reasons.append(
            f"opinion or generalisation, not a personal failure: {_quoted(evidence.opinion)}"
        )
    if p_negative is None:
        reasons.append("no sentiment given")
    else:
        reasons.append(f"negative sentiment {p_negative:.2f}")
    if is_complaint and evidence.bug_report:
        reasons.append(f'reads as a bug report: "{evidence.bug_report}"')
    if is_complaint and p_negative is not None and p_negative < 0.5:
        reasons.append(
            "said calmly (sentiment not negative): flagged for the failure it reports, not its tone"
        )
    verdict = ">=" if is_complaint else "<"
    reasons.append(f"score {score:.2f} {verdict} threshold {COMPLAINT_THRESHOLD}")
    return reasons


def _from_model(
    text: str, evidence: _Evidence, kinds: dict[str, float], p_negative: float | None
) -> ComplaintVerdict:
    """The verdict of a two-headed model: its kind head decides; words give category and reasons."""
    score = round(min(1.0, max(0.0, kinds.get("complaint", 0.0))), 4)
    is_complaint = score >= MODEL_COMPLAINT_THRESHOLD
    others = {kind: p for kind, p in kinds.items() if kind != "complaint"}
    kind: ComplaintKind = (
        "complaint" if is_complaint else cast(ComplaintKind, max(others, key=others.__getitem__))
    )
    reasons = [f"the model: complaint {score:.2f}, " + ", ".join(
        f"{name.replace('_', ' ')} {p:.2f}" for name, p in sorted(others.items(), key=lambda kv: -kv[1])
    )]  # fmt: skip
    category = None
    if is_complaint:
        match = category_of(text)
        category = match.category
        if match.words:
            reasons.append(f"{readable(category)}: {_quoted(list(match.words))}")
    failures = [phrase for phrases in evidence.failures.values() for phrase in phrases]
    if failures:
        reasons.append(f"failure words: {_quoted(failures)}")
    if evidence.experience:
        reasons.append(f"first-person experience: {_quoted(evidence.experience)}")
    if evidence.help:
        reasons.append(f"asks for help: {_quoted(evidence.help, 2)}")
    if evidence.opinion:
        reasons.append(f"opinion or generalisation: {_quoted(evidence.opinion)}")
    if p_negative is not None:
        reasons.append(f"negative sentiment {p_negative:.2f}")
    verdict = ">=" if is_complaint else "<"
    reasons.append(f"score {score:.2f} {verdict} threshold {MODEL_COMPLAINT_THRESHOLD}")
    return ComplaintVerdict(is_complaint, score, category, reasons, kind)


def detect(text: str, sentiment: Sentiment | None) -> ComplaintVerdict:
    """Whether ``text`` is a complaint, of what, and why; never raises on odd text.

    Args:
        text: The post, as collected (HTML, links and mentions are ignored; only the
            first :data:`MAX_CHARS` characters are read).
        sentiment: The sentiment model's verdict on the same text, or ``None`` when
            there is none (the score then rests on the words alone).

    Returns:
        A :class:`ComplaintVerdict`. Text with no words (empty, emoji, links or
        mentions only) is never a complaint: score 0, kind ``negative_opinion`` when
        the sentiment is negative, else ``other``.
    """
    cleaned, quotes = _clean(text)
    p_negative = _negative_probability(sentiment)
    if not any(ch.isalpha() for ch in cleaned):
        kind: ComplaintKind = (
            "negative_opinion" if p_negative is not None and p_negative >= 0.5 else "other"
        )
        return ComplaintVerdict(False, 0.0, None, ["no words to read"], kind)
    evidence = _read(cleaned, quotes)
    if sentiment is not None and sentiment.kinds:
        return _from_model(cleaned, evidence, sentiment.kinds, p_negative)
    score = round(_score(_signals(evidence, p_negative), WEIGHTS), 4)
    is_complaint = score >= COMPLAINT_THRESHOLD
    if is_complaint:
        kind, category = "complaint", _category(evidence, cleaned)
    elif evidence.question:
        kind, category = "question", None
    elif evidence.opinion or (p_negative is not None and p_negative >= 0.5):
        kind, category = "negative_opinion", None
    else:
        kind, category = "other", None
    reasons = _reasons(evidence, p_negative, score, is_complaint)
    return ComplaintVerdict(is_complaint, score, category, reasons, kind)
