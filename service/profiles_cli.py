"""``goodwill profiles`` and ``goodwill export``: customer profiles, advocacy, exports.

``profiles show|list|merge|split|proposals|recompute`` live here; a person is named
by profile id, email, ``source:handle`` or identity key. Every error is one line on
stderr and exit status 1.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from service.cli_common import ProgressBar, echo, fail, login_name, printable, run_async, settings

if TYPE_CHECKING:
    from customers.profiles import ProfileStore

__all__ = ["export_app", "profiles_app"]

_T = TypeVar("_T")

profiles_app = typer.Typer(
    help="Customer profiles: look up, merge, split, import from a CRM, export or erase a person.",
    no_args_is_help=True,
)
export_app = typer.Typer(help="Export lists for marketing (CSV or XLSX).", no_args_is_help=True)


By = Annotated[str | None, typer.Option("--by", help="Who does this (default: your login name).")]


def _with_profiles(work: Callable[[ProfileStore], Coroutine[Any, Any, _T]]) -> _T:
    """Open the store, run ``work`` with a ProfileStore; a ValueError becomes its message and exit 1."""
    from customers.advocacy import AdvocacyParams
    from customers.profiles import ProfileStore
    from service.processes import open_store

    loaded = settings()

    async def run() -> _T:
        async with open_store(loaded) as store:
            return await work(ProfileStore(store, AdvocacyParams.from_settings(loaded)))

    try:
        return run_async(run)
    except ValueError as error:
        raise fail(str(error)) from None


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else "-"


def _line(text: str | None, width: int = 70) -> str:
    flat = " ".join((text or "").split())
    return printable(flat if len(flat) <= width else flat[: width - 1] + "…")


def _person(doc: dict[str, Any]) -> str:
    return f"{printable(doc.get('display_name') or '(no name)')} ({printable(doc['_id'])})"


def _values(values: Any) -> str:
    """A list of stored values (emails, tags, reasons) as one printable line."""
    return ", ".join(printable(value) for value in values or ())


def _print_profile(
    doc: dict[str, Any],
    advocacy: list[dict[str, Any]],
    mentions: list[dict[str, Any]],
    merges: list[dict[str, Any]],
) -> None:
    echo(f"{_person(doc)}  origin {doc.get('origin')}, reach {doc.get('reach', 0):,}")
    if doc.get("do_not_contact"):
        echo("  DO NOT CONTACT")
    echo("Identities:")
    for identity in doc.get("identities") or ():
        followers = identity.get("followers")
        echo(
            f"  {printable(identity.get('source'))}  @{printable(identity.get('handle') or '-')}"
            f"  {printable(identity['key'])}  {'-' if followers is None else f'{followers:,}'} "
            f"followers  {printable(identity.get('url') or '')}"
        )
    if doc.get("emails"):
        echo(f"Emails: {_values(doc['emails'])}")
    if doc.get("crm_id") or doc.get("crm_fields") or doc.get("value") is not None:
        value = doc.get("value")
        echo(
            f"CRM: {printable(doc.get('crm_system') or '-')} {printable(doc.get('crm_id') or '-')}, "
            f"tier {printable(doc.get('tier') or '-')}, value {'-' if value is None else value}"
        )
        for name, field in sorted((doc.get("crm_fields") or {}).items()):
            echo(f"  {printable(name)}: {printable(field)}")
    if doc.get("tags"):
        echo(f"Tags: {_values(doc['tags'])}")
    counts = doc.get("counts") or {}
    echo(
        f"Mentions: {counts.get('mentions', 0)} ({counts.get('scored', 0)} scored: "
        f"{counts.get('positive', 0)} positive, {counts.get('neutral', 0)} neutral, "
        f"{counts.get('negative', 0)} negative; {counts.get('complaints', 0)} complaints), "
        f"{_when(doc.get('first_seen'))} to {_when(doc.get('last_seen'))}"
    )
    echo("Advocacy:")
    if not advocacy:
        echo("  (no scored mention yet)")
    for row in advocacy:
        echo(
            f"  {printable(row['brand']):<20} {row['tier']:<9} {row['score']:>7.2f}  "
            f"{row['mentions']} mentions, last {_when(row.get('last_mention_at'))}"
        )
    echo("Last mentions:")
    for mention in mentions:
        label = (mention.get("sentiment") or {}).get("label") or mention.get("score_state")
        echo(
            f"  {_when(mention.get('created_at'))}  {printable(mention.get('brand'))}  "
            f"{printable(mention.get('source'))}  {label}  {_line(mention.get('text'))}"
        )
    for record in merges:
        state = f"split {_when(record['split_at'])}" if record.get("split_at") else "merged"
        echo(
            f"Merge {record['_id']}: {record['absorbed']} into {record['into']} "
            f"by {printable(record['by'])} {_when(record['at'])} ({state})"
        )


@profiles_app.command("show")
def show(
    person: Annotated[
        str, typer.Argument(help="Profile id, email, source:handle or identity key.")
    ],
    mentions: Annotated[int, typer.Option(help="How many recent mentions to show.")] = 10,
) -> None:
    """Show one person: identities, CRM fields, advocacy per brand, last mentions, merges."""

    async def work(profiles: ProfileStore) -> None:
        doc = await profiles.get(person)
        _print_profile(
            doc,
            await profiles.advocacy_of(doc["_id"]),
            await profiles.profile_mentions(doc["_id"], limit=mentions),
            await profiles.merges.records(doc["_id"]),
        )

    _with_profiles(work)


@profiles_app.command("list")
def list_(
    brand: Annotated[str | None, typer.Option(help="Brand (default: every brand).")] = None,
    tier: Annotated[
        str | None, typer.Option(help="advocate, neutral or detractor (default: all).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Rows per brand.")] = 20,
    offset: Annotated[int, typer.Option(min=0, help="Rows to skip.")] = 0,
) -> None:
    """List people by advocacy score: advocates highest first, detractors lowest first."""

    async def work(profiles: ProfileStore) -> None:
        brands = [brand] if brand else await profiles.store.mentions.brands()
        for name in brands:
            total = await profiles.leaderboard_count(name, tier=tier)
            rows = await profiles.leaderboard(name, tier=tier, limit=limit, offset=offset)
            echo(f"{printable(name)}: {total} {printable(tier or 'scored')} people")
            for row in rows:
                echo(
                    f"  {row['score']:>7.2f}  {row['tier']:<9} {row['profile_id']}  "
                    f"{printable(row.get('display_name') or '(no name)')}  "
                    f"reach {row.get('reach', 0):,}  {row['mentions']} mentions"
                )

    _with_profiles(work)


@profiles_app.command("merge")
def merge(
    into: Annotated[str, typer.Argument(help="The person who stays (keeps their values).")],
    absorbed: Annotated[str, typer.Argument(help="The person merged into the first.")],
    by: By = None,
    reason: Annotated[str, typer.Option(help="Why they are one person.")] = "",
) -> None:
    """Merge two profiles that are one person (undo with `goodwill profiles split`)."""

    async def work(profiles: ProfileStore) -> dict[str, Any]:
        keep, gone = await profiles.get(into), await profiles.get(absorbed)
        return await profiles.merges.merge(keep["_id"], gone["_id"], by or login_name(), reason)

    record = _with_profiles(work)
    echo(
        f"Merged {record['absorbed']} into {record['into']} (merge {record['_id']}); "
        f"undo with `goodwill profiles split {record['_id']}`."
    )


@profiles_app.command("split")
def split(
    merge_ref: Annotated[
        str,
        typer.Argument(metavar="MERGE_ID_OR_PROFILE", help="A merge id, or the merged profile."),
    ],
    by: By = None,
) -> None:
    """Undo a merge: the absorbed profile comes back with its identities, mentions and scores."""

    async def work(profiles: ProfileStore) -> dict[str, Any]:
        return await profiles.merges.split(merge_ref, by or login_name())

    record = _with_profiles(work)
    echo(f"Split merge {record['_id']}: {record['absorbed']} is apart from {record['into']}.")


@profiles_app.command("proposals")
def proposals(
    accept: Annotated[str | None, typer.Option(help="Merge the pair of this proposal.")] = None,
    reject: Annotated[str | None, typer.Option(help="Never propose this pair again.")] = None,
    by: By = None,
) -> None:
    """Find profiles that may be one person (and merge those sharing a CRM id); accept or reject."""
    if accept and reject:
        raise fail("Pass --accept or --reject, not both.")
    who = by or login_name()

    async def work(profiles: ProfileStore) -> None:
        if accept:
            record = await profiles.merges.accept_proposal(accept, who)
            echo(f"Merged {record['absorbed']} into {record['into']} (merge {record['_id']}).")
            return
        if reject:
            await profiles.merges.reject_proposal(reject, who)
            echo(f"Rejected {printable(reject)}; this pair will not be proposed again.")
            return
        run = await profiles.merges.proposals(who)
        for record in run.merged:
            echo(
                f"Merged {record['absorbed']} into {record['into']}: {printable(record['reason'])} "
                f"(merge {record['_id']})"
            )
        opened = await profiles.merges.list_proposals("open")
        echo(f"{len(opened)} open proposals")
        for proposal in opened:
            reasons = "; ".join(printable(reason) for reason in proposal.get("reasons") or ())
            echo(f"  {proposal['_id']}  {reasons}")

    _with_profiles(work)


@profiles_app.command("recompute")
def recompute() -> None:
    """Recompute every profile's counts and advocacy from the mentions, with progress."""

    async def work(profiles: ProfileStore) -> Any:
        return await profiles.recompute_all(progress=bar)

    with ProgressBar("mentions", "recomputing") as bar:
        stats = _with_profiles(work)
    echo(
        f"Done: {stats.mentions:,} mentions, {stats.profiles:,} profiles, "
        f"{stats.advocacy:,} advocacy scores computed, {stats.removed:,} removed, "
        f"{stats.tier_changes:,} tier changes, {stats.written:,} documents written."
    )
