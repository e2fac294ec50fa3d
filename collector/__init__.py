"""Collection: getting mentions of each brand from public sources into MongoDB."""

from collector.base import CollectContext, Page, Source, Target
from collector.query import Query, QuerySyntaxError
from collector.runner import Job, JobResult, Runner, make_scheduler

__all__ = [
    "CollectContext",
    "Job",
    "JobResult",
    "Page",
    "Query",
    "QuerySyntaxError",
    "Runner",
    "Source",
    "Target",
    "make_scheduler",
]
