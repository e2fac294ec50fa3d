"""Building the collection jobs of a watch list: one per brand x source, each source constructed.

The watch list (``config.watchlist``) is checked on load against the description of each
source type (``config.sources``); building a job constructs its source from the entry's
parameters and the credentials in ``Settings``, so the source's constructor checks the
values too. Either way an error is a ``ConfigError`` naming the watch list's file, line,
key and what is expected, raised before anything runs.
"""

from __future__ import annotations

import re

from collector.base import Source
from collector.runner import Job
from collector.sources.registry import SourceRegistry, default_registry, describe_registry
from config.settings import Settings, get_settings
from config.watchlist import BrandConfig, Loc, Problem, WatchList, key_path, source_problems

__all__ = ["build_jobs"]


def _job(brand: BrandConfig, source: Source, interval: float) -> Job:
    return Job(
        brand=brand.name,
        source=source,
        interval=interval,
        terms=brand.query.terms,
        query=brand.query,
    )


def build_jobs(
    watchlist: WatchList,
    registry: SourceRegistry | None = None,
    settings: Settings | None = None,
) -> list[Job]:
    """One collection job per brand x source, each source built from its parameters.

    Credentials come from ``settings`` (see ``config.sources.CREDENTIALS``).
    ``registry`` defaults to ``default_registry()``, ``settings`` to ``get_settings()``.
    Raises ``ConfigError`` for an unknown type, bad parameters, a missing credential, or
    two sources of one brand that would share a job id.
    """
    registry = default_registry() if registry is None else registry
    settings = get_settings() if settings is None else settings
    types = describe_registry(registry)
    problems: list[Problem] = []
    jobs: list[Job] = []
    owners: dict[str, Loc] = {}
    for b, brand in enumerate(watchlist.brands):
        for s, entry in enumerate(brand.sources):
            loc: Loc = ("brand", b, "source", s)
            found = source_problems(entry, types, settings, loc)
            if found:
                problems.extend(found)
                continue
            credentials = types[entry.type].credentials_from(settings)
            try:
                source = registry[entry.type](**entry.params, **credentials)
            except (TypeError, ValueError) as error:
                named = next(
                    (
                        name
                        for name in entry.params
                        if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", str(error))
                    ),
                    None,
                )
                problems.append(
                    Problem(
                        (*loc, named) if named else loc,
                        f"the {entry.type} source refused its parameters: {error}",
                    )
                )
                continue
            job = _job(brand, source, watchlist.interval_of(entry))
            if job.id in owners:
                other = key_path(owners[job.id])
                problems.append(
                    Problem(
                        loc,
                        f"{brand.name!r} already has a {source.name} source ({other}); one job "
                        "runs per brand and source, so merge the two entries into one",
                    )
                )
                continue
            owners[job.id] = loc
            jobs.append(job)
    if problems:
        raise watchlist.error(problems)
    return jobs
