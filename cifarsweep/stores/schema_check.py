"""Refuse a database that belongs to something else, before MLflow or Optuna write their tables into it."""

from __future__ import annotations

from cifarsweep.errors import UserError
from cifarsweep.stores.urls import mask_password, sqlite_exists

DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
CONNECT_TIMEOUT_S = 10


def foreign_tables(url: str, own_table: str) -> list[str]:
    """Tables of a non-empty database that lacks ``own_table`` (empty list: fine to use)."""
    import sqlalchemy

    if url.split(":", 1)[0].split("+")[0] not in DATABASE_SCHEMES:
        return []
    if not sqlite_exists(url):
        return []
    scheme = url.split(":", 1)[0].split("+")[0]
    # A host that drops packets would otherwise hang for the OS's TCP timeout (minutes): bad input is said at once.
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if scheme in ("postgresql", "mysql") else {}
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool, connect_args=connect_args)
    try:
        tables = sqlalchemy.inspect(engine).get_table_names()
    except sqlalchemy.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
        raise UserError(f"database {mask_password(url)} is not reachable: {mask_password(reason)}") from None
    finally:
        engine.dispose()
    if tables and own_table not in tables:
        return sorted(tables)
    return []


def require_own_schema(url: str, own_table: str, role: str) -> None:
    """A ``UserError`` when ``url`` holds another application's tables."""
    tables = foreign_tables(url, own_table)
    if tables:
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise UserError(f"{role} {mask_password(url)} holds another application's tables ({shown}), not {role} tables")
