"""Settings: the app's configuration, read from the environment once, into a frozen value.

    USERS_DATABASE_URL   sqlite:///var/users.db (the default; relative to the current
                         directory) or postgresql://user:password@host:port/db
    USERS_TOKEN_TTL      access-token lifetime in seconds (default 3600)

A bad value fails at start-up with an error that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///var/users.db"
DEFAULT_TOKEN_TTL_S = 3600


class SettingsError(ValueError):
    """An environment variable holds a value the app cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    """What the app is configured with."""

    database_url: str = DEFAULT_DATABASE_URL
    token_ttl_s: int = DEFAULT_TOKEN_TTL_S

    def __post_init__(self) -> None:
        if not self.database_url.startswith(("sqlite:", "postgresql:", "postgres:")):
            raise SettingsError(
                "USERS_DATABASE_URL must start with sqlite:///, postgresql:// or postgres://"
            )
        if self.token_ttl_s < 1:
            raise SettingsError("USERS_TOKEN_TTL must be a whole number of seconds, at least 1")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings in `environ` (default: `os.environ`), with defaults for what is unset.

        Raises:
            SettingsError: a value is malformed; the message names the variable.
        """
        environ = os.environ if environ is None else environ
        raw_ttl = environ.get("USERS_TOKEN_TTL", str(DEFAULT_TOKEN_TTL_S)).strip()
        try:
            token_ttl_s = int(raw_ttl)
        except ValueError:
            raise SettingsError(
                f"USERS_TOKEN_TTL must be a whole number of seconds, not {raw_ttl!r}"
            ) from None
        return cls(
            database_url=environ.get("USERS_DATABASE_URL", DEFAULT_DATABASE_URL).strip()
            or DEFAULT_DATABASE_URL,
            token_ttl_s=token_ttl_s,
        )
