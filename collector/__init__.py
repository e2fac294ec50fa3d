"""Collection: getting mentions of each brand from public sources into MongoDB."""

from collector.base import CollectContext, Page, Source, Target
from collector.jobs import build_jobs
from collector.runner import Job, JobResult, Runner, make_scheduler

__all__ = [
    "CollectContext",
    "Job",
    "JobResult",
    "Page",
    "Runner",
    "Source",
    "Target",
    "build_jobs",
    "make_scheduler",
]
