"""The database: one interface, a SQLite and a PostgreSQL implementation, and the schema.

    database = database_from_url("sqlite:///var/users.db")    # chosen by the URL's scheme
    await database.open()                                       # create or migrate the schema
    row = await database.fetch_one("SELECT display_name FROM users WHERE username = ?", ("ada",))
    await database.close()

Statements are written once, with `?` placeholders, and values always travel as bound
parameters, never inside the SQL text. psycopg wants `%s` instead, so the PostgreSQL side
rewrites the placeholders (the statements hold no other `?` and no `%`).

Neither driver blocks the event loop: each sqlite3 call runs in a worker thread on a
connection of its own (so a database file that became unreadable shows at the next call,
not never); psycopg's connections are asynchronous, a few kept open between calls.

Exceptions (the drivers' own never leave this module):

    DatabaseError            the database failed: unreachable, unreadable, a bad statement
    └── ConstraintViolation  a UNIQUE, PRIMARY KEY or FOREIGN KEY constraint refused a row
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol, TypeVar

import anyio
import psycopg
import psycopg.pq

from ferry.asgi.concurrency import run_in_threadpool

# How long to wait between attempts to switch a database file to WAL.
WAL_RETRY_S = 0.01

T = TypeVar("T")
Params = Sequence[object]
Row = tuple[Any, ...]
Statement = tuple[str, Params]


class DatabaseError(Exception):
    """The database could not do what was asked (the message is for logs, not clients)."""


class ConstraintViolation(DatabaseError):
    """A constraint refused the change: a duplicate key, or a row that refers to nothing."""


class Database(Protocol):
    """What the repository needs of a database. Every method may raise `DatabaseError`."""

    async def open(self) -> None:
        """Connect, then create the schema or bring it up to date."""

    async def close(self) -> None:
        """Release every connection."""

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row `sql` selects, or None."""

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row `sql` selects."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; the number of rows it changed."""

    async def transaction(self, statements: Sequence[Statement]) -> list[int]:
        """Run `statements` in one transaction, all or none; the rows each one changed."""


def database_from_url(url: str) -> Database:
    """The database `url` names: `sqlite:///relative.db`, `sqlite:////absolute.db` or
    `postgresql://user:password@host:port/name` (`postgres://` too).

    Raises:
        ValueError: the scheme is neither, or the SQLite URL has no path.
    """
    scheme, _, rest = url.partition("://")
    if scheme == "sqlite":
        # As SQLAlchemy reads it: three slashes, then the path (a fourth makes it absolute).
        if not rest.startswith("/") or len(rest) < 2:
            raise ValueError(f"USERS_DATABASE_URL: expected sqlite:///path/to/file.db, got {url!r}")
        return SQLiteDatabase(urllib.parse.unquote(rest[1:]))
    if scheme in ("postgresql", "postgres"):
        return PostgresDatabase(url)
    raise ValueError(f"USERS_DATABASE_URL: unsupported scheme {scheme!r} (sqlite or postgresql)")


# --- the schema: each migration is a list of statements, applied once, in order ---

SQLITE_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        # Times are seconds since the epoch, UTC: the app's clock decides them, not the
        # database's, so every instance and every test sees the same time.
        """CREATE TABLE users (
            username TEXT PRIMARY KEY,
            display_name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created_at INTEGER NOT NULL
        )""",
        """CREATE TABLE tokens (
            digest TEXT PRIMARY KEY,
            username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
            issued_at REAL NOT NULL,
            expires_at REAL NOT NULL
        )""",
        "CREATE INDEX tokens_by_username ON tokens (username)",
        "CREATE INDEX tokens_by_expiry ON tokens (expires_at)",
        """CREATE TABLE login_failures (
            username TEXT NOT NULL,
            failed_at REAL NOT NULL
        )""",
        "CREATE INDEX login_failures_by_username ON login_failures (username, failed_at)",
        "CREATE INDEX login_failures_by_time ON login_failures (failed_at)",
    ),
)

# The same tables; usernames sort in byte order (COLLATE "C"), as SQLite's BINARY does,
# whatever locale the database was created with.
POSTGRES_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE users (
            username TEXT COLLATE "C" PRIMARY KEY,
            display_name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created_at BIGINT NOT NULL
        )""",
        """CREATE TABLE tokens (
            digest TEXT PRIMARY KEY,
            username TEXT COLLATE "C" NOT NULL REFERENCES users (username) ON DELETE CASCADE,
            issued_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX tokens_by_username ON tokens (username)",
        "CREATE INDEX tokens_by_expiry ON tokens (expires_at)",
        """CREATE TABLE login_failures (
            username TEXT COLLATE "C" NOT NULL,
            failed_at DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX login_failures_by_username ON login_failures (username, failed_at)",
        "CREATE INDEX login_failures_by_time ON login_failures (failed_at)",
    ),
)

CREATE_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)"
)
CURRENT_VERSION = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
RECORD_VERSION = "INSERT INTO schema_migrations (version) VALUES (?)"


# --- SQLite ---


class SQLiteDatabase:
    """A SQLite file, through the standard library's sqlite3, in WAL mode.

    Each call opens its own connection in a worker thread and closes it: connecting to a
    local file is cheap, threads never share a connection, and a file that was replaced
    or became unreadable is noticed by the next call.
    """

    def __init__(self, path: str, *, busy_timeout_s: float = 5.0) -> None:
        self.path = os.path.abspath(path)
        self.busy_timeout_s = busy_timeout_s

    async def open(self) -> None:
        await run_in_threadpool(self._migrate)

    async def close(self) -> None:
        pass  # no connection outlives its call

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = await run_in_threadpool(
            self._run, lambda connection: connection.execute(sql, params).fetchone()
        )
        return row

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        rows: list[Row] = await run_in_threadpool(
            self._run, lambda connection: connection.execute(sql, params).fetchall()
        )
        return rows

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await run_in_threadpool(
            self._run, lambda connection: connection.execute(sql, params).rowcount
        )

    async def transaction(self, statements: Sequence[Statement]) -> list[int]:
        def run_all(connection: sqlite3.Connection) -> list[int]:
            return [connection.execute(sql, params).rowcount for sql, params in statements]

        return await run_in_threadpool(self._run, lambda c: _in_sqlite_transaction(c, run_all))

    def _connect(self, *, create: bool = False) -> sqlite3.Connection:
        # mode=rw: a file that has gone away is an error, not a new empty database.
        mode = "rwc" if create else "rw"
        uri = f"file:{urllib.parse.quote(self.path)}?mode={mode}"
        # isolation_level=None: no implicit transactions; the few there are say BEGIN.
        connection = sqlite3.connect(
            uri, uri=True, timeout=self.busy_timeout_s, isolation_level=None
        )
        try:
            connection.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            connection.close()
            raise
        return connection

    def _run(self, work: Callable[[sqlite3.Connection], T], *, create: bool = False) -> T:
        try:
            connection = self._connect(create=create)
            try:
                return work(connection)
            finally:
                connection.close()
        except sqlite3.IntegrityError as exc:
            raise ConstraintViolation(str(exc)) from exc
        except sqlite3.Error as exc:
            raise DatabaseError(str(exc)) from exc

    def _migrate(self) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)

        def migrate(connection: sqlite3.Connection) -> None:
            # WAL lets readers go on while one writer writes; the mode sticks to the file.
            _use_wal(connection, self.busy_timeout_s)
            _in_sqlite_transaction(connection, _apply_sqlite_migrations)

        self._run(migrate, create=True)


def _use_wal(connection: sqlite3.Connection, timeout_s: float) -> None:
    # Switching a file to WAL needs it to itself, and SQLite answers "database is locked"
    # at once rather than waiting out the busy timeout: instances that start together
    # (several workers on one file) try again until the timeout.
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(WAL_RETRY_S)


def _in_sqlite_transaction(
    connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]
) -> T:
    # IMMEDIATE takes the write lock up front: two writers then queue (busy timeout)
    # instead of one failing when it tries to upgrade a read lock.
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = work(connection)
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return result


def _apply_sqlite_migrations(connection: sqlite3.Connection) -> None:
    connection.execute(CREATE_MIGRATIONS_TABLE)
    (version,) = connection.execute(CURRENT_VERSION).fetchone()
    for number, statements in enumerate(SQLITE_MIGRATIONS, start=1):
        if number > version:
            for statement in statements:
                connection.execute(statement)
            connection.execute(RECORD_VERSION, (number,))


# --- PostgreSQL ---

# Any fixed number: the key of the advisory lock that makes instances starting at the
# same time migrate one after the other.
MIGRATION_LOCK_KEY = 7_420_611

Connection = psycopg.AsyncConnection[tuple[Any, ...]]


class PostgresDatabase:
    """A PostgreSQL database through psycopg 3's asynchronous connections.

    At most `max_connections` are open at once (a burst of requests waits for one rather
    than exhausting the server's connection slots); up to `pool_size` idle ones are kept
    for the next calls; a connection that failed is closed rather than kept. Statements
    run in autocommit mode, one transaction each, unless `transaction()` groups them.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 5,
        max_connections: int = 10,
        connect_timeout_s: int = 5,
    ) -> None:
        self.url = url
        self.pool_size = pool_size
        self.max_connections = max_connections
        self.connect_timeout_s = connect_timeout_s
        self._idle: list[Connection] = []
        self._slots: anyio.Semaphore | None = None

    async def open(self) -> None:
        # Made here, not in __init__: it belongs to the event loop that serves the app.
        self._slots = anyio.Semaphore(self.max_connections)
        async with self._connection() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            await connection.execute(CREATE_MIGRATIONS_TABLE)
            cursor = await connection.execute(CURRENT_VERSION)
            row = await cursor.fetchone()
            version = row[0] if row is not None else 0
            for number, statements in enumerate(POSTGRES_MIGRATIONS, start=1):
                if number > version:
                    for statement in statements:
                        await connection.execute(statement)
                    await connection.execute(_pyformat(RECORD_VERSION), (number,))

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        async with self._connection() as connection:
            cursor = await connection.execute(_pyformat(sql), params)
            return await cursor.fetchone()

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._connection() as connection:
            cursor = await connection.execute(_pyformat(sql), params)
            return await cursor.fetchall()

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._connection() as connection:
            cursor = await connection.execute(_pyformat(sql), params)
            return cursor.rowcount

    async def transaction(self, statements: Sequence[Statement]) -> list[int]:
        counts = []
        async with self._connection() as connection, connection.transaction():
            for sql, params in statements:
                cursor = await connection.execute(_pyformat(sql), params)
                counts.append(cursor.rowcount)
        return counts

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        if self._slots is None:
            raise DatabaseError("the database was not opened")
        async with self._slots, self._connect() as connection:
            yield connection

    @contextlib.asynccontextmanager
    async def _connect(self) -> AsyncIterator[Connection]:
        try:
            if self._idle:
                connection = self._idle.pop()
            else:
                connection = await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=self.connect_timeout_s
                )
        except psycopg.Error as exc:
            raise DatabaseError(str(exc)) from exc
        try:
            yield connection
        except psycopg.IntegrityError as exc:
            await self._release(connection)  # the statement was refused; the connection is fine
            raise ConstraintViolation(str(exc)) from exc
        except psycopg.Error as exc:
            await connection.close()
            raise DatabaseError(str(exc)) from exc
        except BaseException:
            await connection.close()  # cancelled mid-statement: its state is unknown
            raise
        else:
            await self._release(connection)

    async def _release(self, connection: Connection) -> None:
        idle = (
            not connection.closed
            and connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        )
        if idle and len(self._idle) < self.pool_size:
            self._idle.append(connection)
        else:
            await connection.close()


def _pyformat(sql: str) -> str:
    # psycopg's placeholder is %s; the statements here use ? and contain no other ? or %.
    return sql.replace("?", "%s")
