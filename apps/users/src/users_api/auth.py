"""Passwords, access tokens and login throttling. It knows nothing of HTTP.

Passwords are hashed with scrypt (memory-hard) and a random 16-byte salt per user, and
checked with a constant-time comparison. A login for a user who does not exist is checked
against a dummy hash, so it costs the same as a wrong password and answers the same.

An access token is 32 random bytes from `secrets` (256 bits), given to the client once;
the database keeps only its SHA-256 digest, with an expiry. Logout deletes that digest;
a password change or an account deletion deletes every digest of the user.

Failed logins are counted in the database, per username (existing or not), so every
instance sees them: the 11th failure within 15 minutes, and every attempt after it while
10 failures stay within the window, is refused without checking the password.

Exceptions:

    AuthError
    ├── LoginFailed     wrong username or password (which one is never told)
    └── LoginLocked     too many failures; `retry_after_s` says when to try again
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from ferry.asgi.concurrency import run_in_threadpool
from users_api.models import USERNAME_PATTERN
from users_api.repository import Repository, UserRecord

Clock = Callable[[], float]  # seconds since the epoch, like time.time

MAX_FAILURES = 10
FAILURE_WINDOW_S = 15 * 60
SALT_BYTES = 16
TOKEN_BYTES = 32
_USERNAME = re.compile(USERNAME_PATTERN)


class AuthError(Exception):
    """A login was refused."""


class LoginFailed(AuthError):
    """The username or the password is wrong."""


class LoginLocked(AuthError):
    """Too many failed logins for this username; try again in `retry_after_s` seconds."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"locked for {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class PasswordHasher:
    """scrypt with a random salt; the cost parameters travel inside each hash.

    A hash reads `scrypt$<n>$<r>$<p>$<salt>$<key>` (salt and key in base64), so raising
    the cost later does not break the hashes stored before.
    """

    n: int = 2**14  # 16 MiB of memory per hash with r=8 (128 * n * r bytes)
    r: int = 8
    p: int = 1
    key_bytes: int = 32

    def hash(self, password: str) -> str:
        """A new hash of `password`, with a new random salt."""
        salt = secrets.token_bytes(SALT_BYTES)
        key = self._derive(password, salt, self.n, self.r, self.p, self.key_bytes)
        return "$".join(["scrypt", str(self.n), str(self.r), str(self.p), _b64(salt), _b64(key)])

    def verify(self, password: str, stored: str) -> bool:
        """Whether `password` matches `stored`; the comparison takes constant time."""
        try:
            algorithm, n, r, p, salt, key = stored.split("$")
            expected = base64.b64decode(key)
            if algorithm != "scrypt":
                return False
            actual = self._derive(
                password, base64.b64decode(salt), int(n), int(r), int(p), len(expected)
            )
        except ValueError:
            return False
        return hmac.compare_digest(actual, expected)

    @staticmethod
    def _derive(password: str, salt: bytes, n: int, r: int, p: int, key_bytes: int) -> bytes:
        # surrogatepass: a str that cannot be UTF-8 (a lone surrogate) still hashes.
        secret = password.encode("utf-8", "surrogatepass")
        # OpenSSL refuses more memory than maxmem; give it what these parameters need.
        maxmem = 128 * r * (n + p + 2) + 1024 * 1024
        return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=key_bytes)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def token_digest(token: str) -> str:
    """What is stored of a token: its SHA-256 digest, in hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def failure_key(username: str) -> str:
    """The name failed logins are counted under.

    A valid username counts under itself. Anything else (it can never be a user) counts
    under its digest: the key stays short and free of characters a database may refuse
    (U+0000), and `#` keeps it apart from every valid username.
    """
    if _USERNAME.fullmatch(username):
        return username
    return "#" + hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new access token: the only time its plain value exists."""

    access_token: str
    expires_in_s: int


class Authenticator:
    """Logs users in and out, checks tokens, and hashes passwords off the event loop."""

    def __init__(
        self,
        repository: Repository,
        *,
        token_ttl_s: int,
        hasher: PasswordHasher | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.repository = repository
        self.token_ttl_s = token_ttl_s
        self.hasher = hasher or PasswordHasher()
        self.clock = clock
        # Checked when the user does not exist, so that costs what a wrong password costs.
        self.dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    async def hash_password(self, password: str) -> str:
        """A new hash of `password` (computed in a worker thread: it takes a while)."""
        return await run_in_threadpool(self.hasher.hash, password)

    async def login(self, username: str, password: str) -> IssuedToken:
        """Check the password and issue a token.

        Raises:
            LoginLocked: 10 failures for this username within the window (the password
                is not even checked).
            LoginFailed: no such user, or the wrong password.
        """
        key = failure_key(username)
        now = self.clock()
        failures = await self.repository.login_failures_since(key, now - FAILURE_WINDOW_S)
        if len(failures) >= MAX_FAILURES:
            raise LoginLocked(_retry_after_s(failures, now))
        user = await self.repository.get_user(username) if key == username else None
        stored = user.password_hash if user is not None else self.dummy_hash
        matches = await run_in_threadpool(self.hasher.verify, password, stored)
        now = self.clock()
        if user is None or not matches:
            await self.repository.record_login_failure(key, now, now - FAILURE_WINDOW_S)
            raise LoginFailed
        token = secrets.token_urlsafe(TOKEN_BYTES)
        await self.repository.record_login(
            key, user.username, token_digest(token), now, now + self.token_ttl_s
        )
        return IssuedToken(access_token=token, expires_in_s=self.token_ttl_s)

    async def authenticate(self, token: str) -> UserRecord | None:
        """The user an unexpired, unrevoked `token` belongs to, or None."""
        return await self.repository.user_for_token(token_digest(token), self.clock())

    async def logout(self, token: str) -> None:
        """Revoke `token` (only this one)."""
        await self.repository.revoke_token(token_digest(token))


def _retry_after_s(failures: list[float], now: float) -> int:
    # The lock lifts when fewer than MAX_FAILURES remain in the window: when the failure
    # MAX_FAILURES places from the newest ages out. Whole seconds, 1 to the window.
    unlocks_at = failures[len(failures) - MAX_FAILURES] + FAILURE_WINDOW_S
    return min(max(math.ceil(unlocks_at - now), 1), FAILURE_WINDOW_S)
