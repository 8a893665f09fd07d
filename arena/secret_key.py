"""Where ARENA_SECRET_KEY comes from when it is not set.

The key signs client cookies, keys the address hashes and seals owner API keys, so it has to
outlive the process and be the same in every process that serves one database:

* set: used as given;
* unset, SQLite file: generated once and kept in ``<database>.key`` (mode 0600) beside the
  database; every later start, and every worker, reads the same file;
* unset, in-memory SQLite (tests): a key for this process only, since the data dies with it;
* unset, PostgreSQL: refused, because replicas on other machines cannot share a local file.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from pydantic import SecretStr

from arena.settings import Settings, UnresolvedKey

KEY_SUFFIX = ".key"
MIN_KEY_CHARS = 16
REQUIRED_MESSAGE = "ARENA_SECRET_KEY is required with PostgreSQL: replicas must share one key"


class SecretKeyError(Exception):
    """The key cannot be had: one line saying why and what to do."""


def resolve_secret_key(settings: Settings) -> SecretStr:
    """Fill in ``settings.secret_key`` if it was not configured; idempotent."""
    if not isinstance(settings.secret_key, UnresolvedKey):
        return settings.secret_key
    path = key_file(settings.database_url)
    key = SecretStr(secrets.token_urlsafe(32) if path is None else load_or_create(path))
    settings.secret_key = key
    return key


def key_file(database_url: str) -> Path | None:
    """The key file of a SQLite database file; None for in-memory SQLite."""
    from arena.db import DatabaseURLError, parse_database_url

    try:
        url = parse_database_url(database_url)
    except DatabaseURLError as exc:
        raise SecretKeyError(str(exc)) from None
    if url.get_backend_name() != "sqlite":
        raise SecretKeyError(REQUIRED_MESSAGE)
    database = url.database
    if database in (None, "", ":memory:") or url.query.get("mode") == "memory":
        return None
    path = Path(database.removeprefix("file:") if url.query.get("uri") else database)
    return path.with_name(path.name + KEY_SUFFIX)


def load_or_create(path: Path) -> str:
    """The key in ``path``, creating it first if it does not exist.

    The new key is written to a private temporary file (O_EXCL, 0600) and published with
    ``link``, which fails if the name exists: of several processes starting at once exactly
    one publishes, and no one ever reads a half-written file.
    """
    try:
        return read_key(path)
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise SecretKeyError(f"cannot create the key file {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process was first: its key is the one
        except OSError as exc:
            raise SecretKeyError(f"cannot create the key file {path}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return read_key(path)


def read_key(path: Path) -> str:
    """The key kept in ``path``; a file that others may read is refused, not repaired: the
    key may already have been copied, and only the operator can decide to replace it."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise SecretKeyError(f"cannot read the key file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise SecretKeyError(f"the key file {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise SecretKeyError(
            f"the key file {path} is open to other users (mode {mode:04o}, expected 0600): "
            f"run `chmod 600 {path}` if no one else could have read it, otherwise set a new "
            "ARENA_SECRET_KEY (cookies and sealed owner API keys made with the old one stop working)"
        )
    try:
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretKeyError(f"cannot read the key file {path}: {exc}") from None
    if len(key) < MIN_KEY_CHARS:
        raise SecretKeyError(
            f"the key file {path} holds no usable key (fewer than {MIN_KEY_CHARS} characters)"
        )
    return key
