"""A person's data rights: see everything Goodwill holds about them, or have it erased.

A person is named by a *reference*: a profile id (``p_...``), an email, an identity key
(``reddit:id:t2_abc``) or ``source:handle`` (``reddit:bob``, ``mastodon:@bob@host``).
It resolves to one profile, or, for an author the scorer has not resolved into a profile
yet, to the bare identity found on their mentions. A reference that matches nothing, or
several profiles, is an error saying what to pass instead.

``export_data`` returns everything held, JSON-ready: the profile, its advocacy documents,
its mentions (text, author, scores, complaint handling), the corrections people made to
those mentions, the merges and merge proposals that involve it, and the dead letters
(payloads that could not be parsed) written by them.

``erase`` removes the person:

* the profile, its advocacy documents, its merge proposals and the merges that involve
  it (their snapshots hold the person's names, handles and emails) are deleted;
* their mentions keep brand, source, created_at, url (the public post), sentiment and
  complaint verdicts, so counts and trends stay right, but lose ``author``,
  ``author_key``, ``profile_id`` and ``raw``, and are marked ``erased: true``; their text
  (and title, and the text fingerprint) is removed too unless ``keep_text``; the copies
  of that text in ``corrections`` follow the same rule;
* alerts about the person or their mentions, found by id (mention ids, profile id,
  author keys; never by searching for their name, which may be a common word), get their
  payload replaced (and, if not yet sent, are not sent); a digest or spike listing one
  of their posts among others loses only that entry;
* their dead letters are deleted: those whose author keys (read by the collector from
  the unparsable item) are the person's, and those with no readable author in which a
  value is exactly one of their handles or account ids or holds one of their emails
  (``store.erasures`` says why the search is bounded so);
* an ``erasures`` document records *that* an erasure happened — when, by whom, how many
  mentions — and salted hashes of every identity and handle key, email and CRM record id
  of the person (also those of profiles merged into theirs), never a name, handle or
  email. ``store.mentions.upsert`` and the CRM import check those hashes, so a later
  collection or import does not rebuild the person: an import row matching any of them
  is rejected.

Erasure is not atomic (MongoDB gives no transactions we can rely on): the ``erasures``
document is written first, the profile deleted last, and every step is idempotent, so
an interrupted erasure is finished by running it again with the same reference.
Dead letters of anyone expire anyway after their retention
(``GOODWILL_DEAD_LETTER_RETENTION_DAYS``, 30 days by default).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bson import ObjectId

from customers.profiles import ProfileStore
from goodwill.errors import InvalidRequest, PersonNotFound
from goodwill.identity import (
    author_handle_key,
    crm_key,
    email_key,
    erasure_hash,
    handle_key,
    identity_key,
)
from goodwill.models import utcnow
from store import Database
from store.erasures import Author, Subject

__all__ = ["ErasureReport", "Person", "PersonNotFound", "erase", "export_data", "find_person"]

Document = dict[str, Any]

_HOW = (
    "Pass a profile id (p_...), an email, an identity key (reddit:id:t2_abc) "
    "or source:handle (reddit:bob)."
)


@dataclass
class Person:
    """Who a reference named: a profile (``None`` for an unresolved author) and their identities.

    Each identity is ``{source, id, handle}``; ``keys`` are every identity key and handle
    key known for the person (hashed into ``erasures`` on erasure).
    """

    reference: str
    profile: Document | None
    identities: list[Document] = field(default_factory=list)

    @property
    def profile_id(self) -> str | None:
        """The profile's id, if the person has a profile."""
        return None if self.profile is None else str(self.profile["_id"])

    def keys(self) -> set[str]:
        """Every identity key and handle key of the person."""
        found: set[str] = set()
        for identity in self.identities:
            source = str(identity.get("source") or "")
            for key in (identity.get("key"), identity.get("handle_key")):
                if key:
                    found.add(str(key))
            author = {"id": identity.get("id"), "handle": identity.get("handle")}
            if (key := identity_key(source, author)) is not None:
                found.add(key)
            if identity.get("handle"):
                found.add(handle_key(source, str(identity["handle"])))
        return found

    def contact_keys(self) -> set[str]:
        """The keys of the profile's emails and CRM record id (``email_key``, ``crm_key``)."""
        return _contact_keys(self.profile or {})

    def subject(self) -> Subject:
        """The person as the store looks for their data: profile id, keys, authors, emails."""
        emails = (self.profile or {}).get("emails") or ()
        return Subject(
            profile_id=self.profile_id,
            keys=frozenset(self.keys()),
            emails=frozenset(str(email) for email in emails if email),
            authors=tuple(
                Author(
                    source=str(identity["source"]),
                    id=str(identity["id"]) if identity.get("id") else None,
                    handle=str(identity["handle"]) if identity.get("handle") else None,
                )
                for identity in self.identities
                if identity.get("source")
            ),
        )


@dataclass(frozen=True)
class ErasureReport:
    """What an erasure did."""

    profile_id: str | None
    mentions: int
    corrections: int
    advocacy: int
    proposals: int
    merges: int
    alerts: int
    identity_hashes: int
    kept_text: bool
    dead_letters: int = 0


async def find_person(store: Database, reference: str) -> Person:
    """Resolve a person reference (see the module docstring).

    Raises:
        PersonNotFound: nothing matches, or several profiles do (naming them).
    """
    ref = (reference or "").strip()
    if not ref:
        raise PersonNotFound(f"No person given. {_HOW}")
    bare: Document | None = None
    if ":" in ref:
        # An author Goodwill holds mentions of but no profile for (yet) is a person too.
        source, _, rest = ref.partition(":")
        source = source.strip().casefold()
        if rest.startswith("id:") and rest[3:].strip():
            bare = {"source": source, "id": rest[3:].strip(), "handle": None}
        elif rest.strip().lstrip("@"):
            bare = {"source": source, "id": None, "handle": rest.strip().lstrip("@")}
    matches = {doc["_id"]: doc for doc in await ProfileStore(store).matching(ref)}
    if len(matches) > 1:
        names = ", ".join(sorted(matches))
        raise PersonNotFound(
            f"{ref!r} matches {len(matches)} profiles ({names}); pass one profile id instead."
        )
    if matches:
        profile = next(iter(matches.values()))
        return Person(ref, profile, list(profile.get("identities") or []))
    if bare is not None:
        person = Person(ref, None, [bare])
        if await store.erasures.has_mentions(person.subject()):
            return person
    raise PersonNotFound(f"No profile or author matches {ref!r}. {_HOW}")


def _plain(value: Any) -> Any:
    """A document as JSON can hold it: ids and dates as strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def export_data(store: Database, person_ref: str) -> dict[str, Any]:
    """Everything Goodwill holds about a person, JSON-ready (see the module docstring).

    Raises:
        PersonNotFound: the reference matches no one, or several profiles.
    """
    person = await find_person(store, person_ref)
    subject, _ = await _subject_and_mentions(store, person)
    held = await store.erasures.held(subject)
    exported: dict[str, Any] = _plain(
        {
            "reference": person.reference,
            "exported_at": utcnow(),
            "profile": person.profile,
            "identities": person.identities if person.profile is None else [],
            "advocacy": held.advocacy,
            "mentions": held.mentions,
            "corrections": held.corrections,
            "merges": held.merges,
            "merge_proposals": held.merge_proposals,
            "dead_letters": held.dead_letters,
        }
    )
    return exported


async def erase(
    store: Database, person_ref: str, by: str, keep_text: bool = False
) -> ErasureReport:
    """Erase a person (see the module docstring for what goes and what stays).

    Args:
        store: the open store.
        person_ref: who (profile id, email, identity key or source:handle).
        by: who asked for or carried out the erasure (recorded).
        keep_text: keep the text of their mentions (``settings.erase_keeps_text``).

    Raises:
        PersonNotFound: the reference matches no one, or several profiles.
        InvalidRequest: no name given in ``by``.
    """
    who = (by or "").strip()
    if not who:
        raise InvalidRequest("An erasure needs the name of who carries it out (--by).")
    person = await find_person(store, person_ref)
    pid = person.profile_id
    subject, found = await _subject_and_mentions(store, person)
    keys = set(subject.keys) | person.contact_keys()
    if pid is not None:
        # A profile merged into theirs (and not split off) was them too; its record id may
        # not have survived the merge, and the merge record goes with the erasure.
        for record in await store.merges.records(pid, snapshots=True):
            if record.get("into") == pid and not record.get("split_at"):
                keys |= _contact_keys(record.get("snapshot_absorbed") or {})
    hashes = sorted({erasure_hash(key) for key in keys})
    ids = [doc["_id"] for doc in found]
    # The erasure record is written first and the profile deleted last (see store.erasures),
    # so an interrupted erasure is finished by running it again.
    erased = await store.erasures.erase(
        by=who,
        identity_hashes=hashes,
        profile_id=pid,
        mention_ids=ids,
        keep_text=keep_text,
        subject=subject,
    )
    return ErasureReport(
        profile_id=pid,
        mentions=erased.mentions,
        corrections=erased.corrections,
        advocacy=erased.advocacy,
        proposals=erased.proposals,
        merges=erased.merges,
        alerts=erased.alerts,
        identity_hashes=len(hashes),
        kept_text=keep_text,
        dead_letters=erased.dead_letters,
    )


async def _subject_and_mentions(store: Database, person: Person) -> tuple[Subject, list[Document]]:
    """The person as the store looks for them, with every identity key and author seen on
    their mentions too (their dead letters and alerts are found by those), and the
    mentions' ``_id``, ``source``, ``author`` and ``author_key``.
    """
    subject = person.subject()
    found = await store.erasures.mention_authors(subject)
    keys = set(subject.keys)
    for doc in found:
        source = str(doc.get("source") or "")
        author = doc.get("author") or {}
        if doc.get("author_key"):
            keys.add(str(doc["author_key"]))
        for key in (identity_key(source, author), author_handle_key(source, author)):
            if key is not None:
                keys.add(key)
    authors = (*subject.authors, *_authors(found))
    return replace(subject, keys=frozenset(keys), authors=authors), found


def _contact_keys(profile: Document) -> set[str]:
    """The ``email_key`` of each of a profile document's emails and the ``crm_key`` of its CRM id."""
    keys = {email_key(str(email)) for email in profile.get("emails") or () if email}
    if profile.get("crm_id"):
        keys.add(crm_key(str(profile["crm_id"])))
    return keys


def _authors(mentions: Iterable[Document]) -> tuple[Author, ...]:
    """The authors of mentions (``source``, ``author``), as the store looks for them."""
    found: set[Author] = set()
    for doc in mentions:
        author = doc.get("author") or {}
        if doc.get("source") and (author.get("id") or author.get("handle")):
            found.add(
                Author(
                    source=str(doc["source"]),
                    id=str(author["id"]) if author.get("id") else None,
                    handle=str(author["handle"]) if author.get("handle") else None,
                )
            )
    return tuple(sorted(found, key=str))
