"""The SQL for users, tokens and login failures. It knows nothing of HTTP.

Every value is a bound parameter (`?`); no statement is ever built from input. Which of
two simultaneous registrations of one name wins is the database's call: the username is
the primary key, and the loser's INSERT fails with a constraint violation.

Exceptions:

    UsernameTaken          create_user(): the username exists already
    db.DatabaseError       anything else the database could not do
"""

from __future__ import annotations

from dataclasses import dataclass

from users_api.db import ConstraintViolation, Database, DatabaseError, Row, Statement

# SQLite and PostgreSQL both keep OFFSET within a signed 64-bit integer; any offset past
# this is past the end of any table anyway.
MAX_SQL_OFFSET = 2**62

USER_COLUMNS = "username, display_name, password_hash, created_at"


class UsernameTaken(Exception):
    """The username is registered already."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A stored user, password hash included: never sent to a client as it is."""

    username: str
    display_name: str
    password_hash: str
    created_at: int  # seconds since the epoch, UTC


def _user(row: Row) -> UserRecord:
    return UserRecord(
        username=row[0], display_name=row[1], password_hash=row[2], created_at=int(row[3])
    )


class Repository:
    """Reads and writes users, tokens and login failures in one `Database`."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # --- users ---

    async def create_user(
        self, username: str, display_name: str, password_hash: str, created_at: int
    ) -> UserRecord:
        """Store a new user.

        Raises:
            UsernameTaken: a user with this name exists.
        """
        try:
            await self.database.execute(
                f"INSERT INTO users ({USER_COLUMNS}) VALUES (?, ?, ?, ?)",
                (username, display_name, password_hash, created_at),
            )
        except ConstraintViolation:
            raise UsernameTaken(username) from None
        return UserRecord(username, display_name, password_hash, created_at)

    async def get_user(self, username: str) -> UserRecord | None:
        """The user called `username`, or None."""
        row = await self.database.fetch_one(
            f"SELECT {USER_COLUMNS} FROM users WHERE username = ?", (username,)
        )
        return None if row is None else _user(row)

    async def list_users(self, limit: int, offset: int) -> tuple[list[UserRecord], int]:
        """Up to `limit` users after the first `offset`, in byte order of username; and
        how many users there are in all."""
        rows = await self.database.fetch_all(
            f"SELECT {USER_COLUMNS} FROM users ORDER BY username LIMIT ? OFFSET ?",
            (limit, min(offset, MAX_SQL_OFFSET)),
        )
        total_row = await self.database.fetch_one("SELECT COUNT(*) FROM users")
        total = int(total_row[0]) if total_row is not None else 0
        return [_user(row) for row in rows], total

    async def update_user(
        self, username: str, *, display_name: str | None = None, password_hash: str | None = None
    ) -> UserRecord | None:
        """Change what is given; a new password hash also deletes every token of the user,
        in the same transaction. The updated user, or None when there is no such user."""
        statements: list[Statement] = []
        if display_name is not None:
            statements.append(
                ("UPDATE users SET display_name = ? WHERE username = ?", (display_name, username))
            )
        if password_hash is not None:
            statements.append(
                ("UPDATE users SET password_hash = ? WHERE username = ?", (password_hash, username))
            )
            statements.append(("DELETE FROM tokens WHERE username = ?", (username,)))
        if statements:
            await self.database.transaction(statements)
        return await self.get_user(username)

    async def delete_user(self, username: str) -> bool:
        """Delete the user and every token of theirs; False when there was no such user."""
        counts = await self.database.transaction(
            [
                ("DELETE FROM tokens WHERE username = ?", (username,)),
                ("DELETE FROM users WHERE username = ?", (username,)),
            ]
        )
        return counts[1] > 0

    # --- tokens (stored as SHA-256 digests only) ---

    async def user_for_token(self, digest: str, now: float) -> UserRecord | None:
        """The user whose unexpired token has this digest, or None."""
        row = await self.database.fetch_one(
            "SELECT u.username, u.display_name, u.password_hash, u.created_at"
            " FROM tokens t JOIN users u ON u.username = t.username"
            " WHERE t.digest = ? AND t.expires_at > ?",
            (digest, now),
        )
        return None if row is None else _user(row)

    async def revoke_token(self, digest: str) -> None:
        """Delete the token with this digest (nothing happens if there is none)."""
        await self.database.execute("DELETE FROM tokens WHERE digest = ?", (digest,))

    # --- logins ---

    async def login_failures_since(self, key: str, since: float) -> list[float]:
        """When each failed login for `key` after `since` happened, oldest first."""
        rows = await self.database.fetch_all(
            "SELECT failed_at FROM login_failures WHERE username = ? AND failed_at > ?"
            " ORDER BY failed_at",
            (key, since),
        )
        return [float(row[0]) for row in rows]

    async def record_login_failure(self, key: str, now: float, forget_before: float) -> None:
        """Note a failed login for `key`, and forget every failure older than `forget_before`."""
        await self.database.transaction(
            [
                ("DELETE FROM login_failures WHERE failed_at <= ?", (forget_before,)),
                ("INSERT INTO login_failures (username, failed_at) VALUES (?, ?)", (key, now)),
            ]
        )

    async def record_login(
        self, key: str, username: str, digest: str, issued_at: float, expires_at: float
    ) -> None:
        """A successful login: clear `key`'s failures, drop expired tokens, store the new one."""
        await self.database.transaction(
            [
                ("DELETE FROM login_failures WHERE username = ?", (key,)),
                ("DELETE FROM tokens WHERE expires_at <= ?", (issued_at,)),
                (
                    "INSERT INTO tokens (digest, username, issued_at, expires_at)"
                    " VALUES (?, ?, ?, ?)",
                    (digest, username, issued_at, expires_at),
                ),
            ]
        )

    # --- health ---

    async def is_readable(self) -> bool:
        """Whether the users table can be read right now."""
        try:
            await self.database.fetch_one("SELECT 1 FROM users LIMIT 1")
        except DatabaseError:
            return False
        return True
