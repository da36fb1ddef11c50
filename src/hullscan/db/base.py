from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import DateTime, MetaData, Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

MAX_NAME = 60  # PostgreSQL truncates identifiers at 63 bytes; SQLAlchemy refuses longer ones


def _bounded(name: str) -> str:
    """Keep generated constraint names under PostgreSQL's limit, unique by a short hash suffix."""
    if len(name) <= MAX_NAME:
        return name
    return f"{name[: MAX_NAME - 9]}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def _fk_name(constraint, table) -> str:  # type: ignore[no-untyped-def]
    column = constraint.columns.keys()[0] if constraint.columns else "col"
    referred = constraint.elements[0].target_fullname.split(".")[0] if constraint.elements else "ref"
    return _bounded(f"fk_{table.name}_{column}_{referred}")


def _ix_name(index, table) -> str:  # type: ignore[no-untyped-def]
    return _bounded(f"ix_{table.name}_{'_'.join(c.name for c in index.columns) or index.name}")


NAMING: dict[str, Any] = {  # templates and the callables they name
    "ix_name": _ix_name,
    "fk_name": _fk_name,
    "ix": "%(ix_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "%(fk_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class, for bulk statements (SQLAlchemy types `__table__` as any FromClause)."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to one table")
    return table


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops tzinfo) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


RowT = TypeVar("RowT", bound="Base")


def put_row(session: Session, model: type[RowT], key: Any, **values: Any) -> RowT:
    """Insert or update the row of `model` whose primary key is `key` (per-project settings rows), flushed.
    Two nodes writing a project's first row at once: the later write wins, as it would on an existing row."""
    row = session.get(model, key)
    if row is None:
        try:
            with session.begin_nested():
                row = model(**values)
                session.add(row)
            return row
        except IntegrityError:  # the other node's insert came first (and is committed): update it
            row = session.get_one(model, key, with_for_update=True)
    for name, value in values.items():
        setattr(row, name, value)
    session.flush()
    return row


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
