"""What a complaint is about, for any industry: one category of nine, and the words that say so.

The model says *whether* a post is a complaint; these word lists say *what failed*, so
that the complaints queue, the digest and themes can group them, and so that a person
can see why (the matched words are the reasons). Categories are those of the labelling
guidelines (``scoring/data/complaints_v2/GUIDELINES.md``); the lists were written from
the guidelines and checked on the DEV part of the labelled set only
(``python -m scoring.complaint_eval --categories``).

A post whose words match no list gets ``other``. Where several match, the one with the
most matches wins, ties broken in :data:`CATEGORIES` order (more specific first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CATEGORIES", "CategoryMatch", "category_of", "readable"]

#: The categories, most specific first (the order breaks ties).
CATEGORIES: tuple[str, ...] = (
    "safety",
    "account_or_login",
    "billing_refund_pricing",
    "delivery",
    "outage_or_bug",
    "order_or_booking",
    "product_quality",
    "customer_service",
    "other",
)

#: How a person reads each category (the queue, the profile, Slack).
_READABLE = {
    "safety": "safety",
    "account_or_login": "account or login",
    "billing_refund_pricing": "billing, refund or pricing",
    "delivery": "delivery",
    "outage_or_bug": "outage or bug",
    "order_or_booking": "order or booking",
    "product_quality": "product defect or quality",
    "customer_service": "customer service or staff",
    "other": "other",
}


def readable(category: str) -> str:
    """The category as a person reads it; one this list does not name comes back as it is."""
    return _READABLE.get(category, category)


_WORDS: dict[str, tuple[str, ...]] = {
    "safety": (
        r"food poisoning", r"got sick", r"made (?:me|us) sick", r"injur\w*", r"unsafe",
        r"dangerous", r"hazard\w*", r"data breach", r"(?:was|been|got) hacked",
        r"privacy", r"harass\w*", r"fire hazard", r"explod\w*", r"allergic reaction",
    ),
    "account_or_login": (
        r"log ?in", r"sign ?in", r"password", r"locked out", r"account (?:was |is |got )?"
        r"(?:locked|closed|suspended|frozen|disabled|banned|restricted|hacked)",
        r"(?:closed|froze|suspended|locked|banned) my account", r"verif(?:y|ication)",
        r"two[- ]factor", r"2fa", r"identity theft", r"stolen identity", r"my identity",
        r"can(?:no|')t access my account", r"access to my account",
    ),
    "billing_refund_pricing": (
        r"refund\w*", r"charg(?:e|ed|es|ing)", r"overcharg\w*", r"double[- ]charg\w*",
        r"bill(?:ed|ing|s)?\b", r"fees?\b", r"interest", r"payment\w*", r"paid", r"price\w*",
        r"pricing", r"money back", r"credit report\w*", r"credit score", r"debt",
        r"collection agency", r"collector\w*", r"dispute\w*", r"invoice", r"late fee",
        r"compensat\w*", r"voucher", r"reimburs\w*", r"\$\d", r"mortgage", r"loan",
        r"escrow", r"balance",
    ),
    "delivery": (
        r"deliver(?:y|ed|ies)?", r"shipp(?:ed|ing)", r"parcel", r"package", r"tracking",
        r"courier", r"never arrived", r"hasn't arrived", r"not arrived", r"still waiting for my",
        r"wrong item", r"missing item", r"delay(?:ed|s)?", r"late\b", r"cancel+ed flight",
        r"flight (?:was )?cancel+ed", r"missed (?:my )?connection", r"on the tarmac",
        r"lost (?:my )?(?:bag|luggage|suitcase)", r"(?:bag|luggage|baggage)",
    ),
    "outage_or_bug": (
        r"crash\w*", r"\bbug\w*", r"glitch\w*", r"(?:is|was|went|been) down", r"outage",
        r"not working", r"doesn't work", r"does not work", r"won't (?:load|open|work|connect)",
        r"stopped working", r"error\w*", r"freez\w*", r"no (?:signal|service|internet|wifi|wi-fi)",
        r"dropped calls?", r"internet", r"wi-?fi", r"connection", r"slow", r"update broke",
        r"broken (?:app|site|website)", r"(?:app|website|site) (?:is|keeps)", r"keeps? (?:crashing|freezing|logging)",
    ),
    "order_or_booking": (
        r"\border\w*", r"book(?:ing|ed)?\b", r"reservation", r"reserv\w*", r"check[- ]?in",
        r"seat\w*", r"upgrade", r"itinerar\w*", r"rebook\w*", r"cancel(?:l)?(?:ed|ing)? my",
        r"change my (?:flight|order|booking|reservation)", r"ticket\w*", r"appointment",
    ),
    "product_quality": (
        r"defect\w*", r"broke\b", r"broken", r"damaged", r"poor quality", r"cheap(?:ly)? made",
        r"fell apart", r"stopped charging", r"battery", r"screen", r"faulty", r"doesn't fit",
        r"not as described", r"cold food", r"raw\b", r"stale", r"undercooked", r"burnt",
        r"tastes?", r"dirty", r"leak\w*", r"cracked", r"scratch\w*", r"stain\w*",
    ),
    "customer_service": (
        r"customer (?:service|support|care)", r"\bsupport\b", r"on hold", r"hung up",
        r"no (?:one|body) (?:answers|responds|replied|helps|called)", r"no (?:answer|response|reply)",
        r"never (?:called|responded|replied|got back)", r"call(?:ed)? back", r"rude",
        r"unhelpful", r"unprofessional", r"\bagent\w*", r"\brep\b", r"representative\w*",
        r"staff", r"employee\w*", r"manager", r"waiter", r"cashier", r"attendant\w*",
        r"\bdm\b", r"respond\w*", r"ignor\w*", r"complain\w*",
    ),
}  # fmt: skip

_PATTERNS = {
    category: re.compile(r"\b(?:" + "|".join(words) + r")", re.IGNORECASE)
    for category, words in _WORDS.items()
}


@dataclass(frozen=True)
class CategoryMatch:
    """The category of a complaint and the words that chose it (none for ``other``)."""

    category: str
    words: tuple[str, ...]


def category_of(text: str) -> CategoryMatch:
    """The failure a complaint is mainly about, with the words that say so."""
    best: CategoryMatch | None = None
    best_count = 0
    for category in CATEGORIES[:-1]:
        found = [match.group(0).lower() for match in _PATTERNS[category].finditer(text)]
        if len(found) > best_count:
            best, best_count = CategoryMatch(category, tuple(dict.fromkeys(found))), len(found)
    return best or CategoryMatch("other", ())
