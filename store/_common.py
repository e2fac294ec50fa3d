"""What every module of the store shares: the document type, error translation, ids."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from bson import ObjectId
from bson.errors import BSONError, InvalidId
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from goodwill.errors import InvalidRequest, StoreError

__all__ = ["Document", "object_id", "redact", "time_range", "translated", "translating_errors"]

Document = dict[str, Any]
_P = ParamSpec("_P")
_T = TypeVar("_T")
_S = TypeVar("_S")


def translating_errors(cls: type[_S]) -> type[_S]:
    """Make every public coroutine of ``cls`` raise ``StoreError`` instead of driver errors.

    Callers then handle one error type ("the database is unreachable or refused"),
    and the driver stays an implementation detail of the store package.
    """
    for name, method in list(vars(cls).items()):
        if name.startswith("_") or not inspect.iscoroutinefunction(method):
            continue
        setattr(cls, name, translated(method))
    return cls


def translated(
    method: Callable[_P, Coroutine[Any, Any, _T]],
) -> Callable[_P, Coroutine[Any, Any, _T]]:
    """``method`` raising ``StoreError`` (with the operation's name) for any driver error."""

    @functools.wraps(method)
    async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return await method(*args, **kwargs)
        except StoreError:
            raise
        except (PyMongoError, BSONError) as error:  # BSONError: e.g. a document over 16 MB
            raise StoreError(
                f"Database operation {method.__name__} failed: {error.__class__.__name__}: {error}"
            ) from error

    return wrapper


def time_range(since: object | None, until: object | None) -> Document:
    """A ``created_at`` condition for ``[since, until)``: ``{}`` when both are open."""
    window: Document = {}
    if since is not None:
        window["$gte"] = since
    if until is not None:
        window["$lt"] = until
    return window


def object_id(value: object, what: str = "mention") -> ObjectId:
    """An id given as an ObjectId or its 24 hex digits (as the dashboard has it).

    Raises:
        InvalidRequest: anything else.
    """
    if isinstance(value, ObjectId):
        return value
    if isinstance(value, str):
        try:
            return ObjectId(value.strip())
        except InvalidId:
            pass
    raise InvalidRequest(f"{value!r} is not a {what} id (24 hexadecimal digits).")


def redact(client: AsyncMongoClient[Document]) -> str:
    """host:port of the client's seeds, never its credentials."""
    return ", ".join(
        f"{host}:{port}" for host, port in client.topology_description.server_descriptions()
    )
