"""Which database errors a client can wait out (503), which mean a full disk (507), and which
stay 500s because they are bugs: the table behind the fault tests' answers."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy import exc as sa_exc

from arena.errors import database_problem


def sqlite_error(kind: type[sqlite3.Error], code: int) -> sqlite3.Error:
    error = kind("from sqlite")
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize(
    ("error", "problem"),
    [
        (sa_exc.OperationalError("x", {}, sqlite_error(sqlite3.OperationalError, 13)), "full"),
        (
            sa_exc.OperationalError("x", {}, sqlite_error(sqlite3.OperationalError, 5)),
            "unavailable",
        ),
        # SQLITE_IOERR_WRITE: an extended code, judged by its primary code
        (
            sa_exc.OperationalError("x", {}, sqlite_error(sqlite3.OperationalError, 778)),
            "unavailable",
        ),
        (sa_exc.OperationalError("x", {}, sqlite_error(sqlite3.OperationalError, 1)), None),
        (sa_exc.IntegrityError("x", {}, sqlite_error(sqlite3.IntegrityError, 2067)), None),
        (sa_exc.OperationalError("x", {}, psycopg.errors.DiskFull()), "full"),
        (sa_exc.OperationalError("x", {}, psycopg.errors.AdminShutdown()), "unavailable"),
        (sa_exc.OperationalError("x", {}, psycopg.errors.CannotConnectNow()), "unavailable"),
        (sa_exc.OperationalError("x", {}, psycopg.OperationalError("refused")), "unavailable"),
        (sa_exc.OperationalError("x", {}, psycopg.errors.SerializationFailure()), "unavailable"),
        (sa_exc.IntegrityError("x", {}, psycopg.errors.UniqueViolation()), None),
        (sa_exc.ProgrammingError("x", {}, psycopg.errors.UndefinedTable()), None),
        (sa_exc.TimeoutError("QueuePool limit reached"), "unavailable"),
        (ValueError("not a database error"), None),
    ],
)
def test_database_problem(error: BaseException, problem: str | None) -> None:
    assert database_problem(error) == problem
