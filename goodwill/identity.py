"""Who an author is, across sources: identity keys, profile ids and erasure hashes.

An *identity* is one account on one source (``reddit:t2_abc``); a *profile* is one
person, holding one or more identities. These helpers are the one definition of both
keys, shared by the scorer (which resolves authors), the CRM import and erasure. An
erasure also hashes the person's email and CRM record keys (``email_key``, ``crm_key``),
so that a CRM import does not bring them back either.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ADVOCACY_TIERS",
    "author_handle_key",
    "crm_key",
    "email_key",
    "erasure_hash",
    "handle_key",
    "identity_key",
    "new_profile_id",
]

# Advocacy standing of a profile for one brand (not the customer's CRM tier).
ADVOCACY_TIERS = ("advocate", "neutral", "detractor")

# Salt of erasure hashes: stable across installs so that a re-collected author is known.
_ERASURE_SALT = b"goodwill-erasure-v1:"


def handle_key(source: str, handle: str) -> str:
    """The identity key of a handle on a source: ``source:handle``, handle case-folded, no ``@``."""
    return f"{source.strip().casefold()}:{handle.strip().lstrip('@').casefold()}"


def identity_key(source: str, author: Mapping[str, Any] | None) -> str | None:
    """The identity key of a mention's author: the source's stable id, else the handle.

    ``None`` when the source names no author at all (nothing to resolve).
    """
    if not author:
        return None
    author_id = author.get("id")
    if isinstance(author_id, str) and author_id.strip():
        return f"{source.strip().casefold()}:id:{author_id.strip()}"
    handle = author.get("handle")
    if isinstance(handle, str) and handle.strip().lstrip("@"):
        return handle_key(source, handle)
    return None


def author_handle_key(source: str, author: Mapping[str, Any] | None) -> str | None:
    """The handle key of a mention's author (``None`` when the source gives no usable handle).

    Kept beside the identity key: a CRM row names people by handle, and an erasure hashes both.
    """
    handle = (author or {}).get("handle")
    if isinstance(handle, str) and handle.strip().lstrip("@"):
        return handle_key(source, handle)
    return None


def email_key(email: str) -> str:
    """The key of an email address, as an erasure hashes it: ``email:`` and the address, lower-cased.

    Lower-cased as the CRM import keeps addresses, so an erased address is known again.
    """
    return f"email:{email.strip().lower()}"


def crm_key(crm_id: str) -> str:
    """The key of a CRM record id, as an erasure hashes it: ``crm:`` and the id as the CRM gives it.

    Not tied to one CRM system, because the import matches record ids across systems too.
    """
    return f"crm:{crm_id.strip()}"


def erasure_hash(key: str) -> str:
    """What an erasure keeps of an identity key: a salted SHA-256, never the key itself."""
    return hashlib.sha256(_ERASURE_SALT + key.encode("utf-8")).hexdigest()


def new_profile_id() -> str:
    """A fresh profile id: ``p_`` and 16 hex digits."""
    return f"p_{secrets.token_hex(8)}"
