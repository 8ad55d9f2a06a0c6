"""A throwaway PostgreSQL server for tests: `running_postgres()` and `fresh_database()`.

    with running_postgres() as url:           # postgresql://ferry:ferry@127.0.0.1:PORT/ferry
        users_url = fresh_database(url)       # a new, empty database on the same server

The server is the one installed on the machine (Debian keeps `initdb` and `pg_ctl` in
/usr/lib/postgresql/<version>/bin, off PATH). Its data directory lives in a temporary
directory that is removed when the block ends, so nothing is left behind and no running
service is needed. `initdb` refuses to run as root, so as root the server programs run as
the `postgres` user; otherwise they run as the current user. Durability is switched off
(fsync, synchronous_commit, full_page_writes): the data is thrown away anyway, and that
keeps start-up to a second or two.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

USER = "ferry"
PASSWORD = "ferry"
DATABASE = "ferry"
# The bootstrap superuser; `ferry` is an ordinary role that may create databases, as an
# application's role would be.
SUPERUSER = "postgres"
# Root may not run the server, so it hands the programs to this account.
SERVER_ACCOUNT = "postgres"
START_TIMEOUT_S = 30
COMMAND_TIMEOUT_S = 60.0
START_ATTEMPTS = 3

# The server's settings on top of the port and socket directory: loopback only, and no
# durability, since the data is deleted with the directory.
SERVER_SETTINGS = (
    "listen_addresses=127.0.0.1",
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
)


class PostgresError(RuntimeError):
    """The test server could not be set up, started or used; the message carries its output."""


def postgres_available() -> bool:
    """Whether this machine can run a test server: the programs exist, and whoever must run them."""
    if _server_bin_dir() is None:
        return False
    if shutil.which("psql") is None and _psql_path() is None:
        return False
    if os.geteuid() != 0:
        return True
    return _account_exists(SERVER_ACCOUNT) and (
        shutil.which("runuser") is not None or shutil.which("su") is not None
    )


@contextmanager
def running_postgres() -> Iterator[str]:
    """Start a PostgreSQL server on a free loopback port; yield the URL of its `ferry` database.

    The role `ferry` (password `ferry`) owns the database and may create others (see
    `fresh_database`). Leaving the block stops the server and deletes its directory.

    Raises:
        PostgresError: the programs are missing, or the server did not start (the message
            includes the server's log).
    """
    bin_dir = _server_bin_dir()
    if bin_dir is None:
        raise PostgresError("initdb and pg_ctl were not found (is PostgreSQL installed?)")
    # Under /tmp rather than $TMPDIR: the server account must be able to reach it, and the
    # socket path must stay under the kernel's ~107-byte limit.
    root = Path(tempfile.mkdtemp(prefix="ferry-pg-", dir="/tmp" if Path("/tmp").is_dir() else None))
    try:
        if os.geteuid() == 0:
            shutil.chown(root, user=SERVER_ACCOUNT, group=_primary_group(SERVER_ACCOUNT))
        data_dir = root / "data"
        _init_cluster(bin_dir, root, data_dir)
        port = _start_server(bin_dir, root, data_dir)
        try:
            admin_url = f"postgresql://{SUPERUSER}@/postgres?host={root}&port={port}"
            run_psql(admin_url, f"CREATE ROLE {USER} LOGIN CREATEDB PASSWORD '{PASSWORD}'")
            # CREATE DATABASE may not run inside a transaction, so it is a command of its own.
            run_psql(admin_url, f"CREATE DATABASE {DATABASE} OWNER {USER}")
            yield f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}"
        finally:
            _stop_server(bin_dir, root, data_dir)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(url: str) -> str:
    """Create a new, uniquely named, empty database on the server at `url`; return its URL.

    Raises:
        PostgresError: the database could not be created.
    """
    name = f"ferry_test_{uuid.uuid4().hex[:12]}"
    # The name is ours (letters, digits and underscores), so quoting it is enough.
    run_psql(url, f'CREATE DATABASE "{name}"')
    return _with_database(url, name)


def run_psql(url: str, command: str) -> str:
    """Run one SQL command with `psql` against `url`; return its unaligned, tuples-only output.

    Raises:
        PostgresError: psql failed (the message includes its error output).
    """
    psql = shutil.which("psql") or _psql_path()
    if psql is None:
        raise PostgresError("psql was not found on PATH or next to initdb")
    argv = [psql, "--no-psqlrc", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", command]
    result = _run([*argv, "--dbname", url], as_server=False)
    if result.returncode != 0:
        raise PostgresError(f"psql failed on {command!r}:\n{result.stderr}")
    return result.stdout


def _init_cluster(bin_dir: Path, root: Path, data_dir: Path) -> None:
    # Local (socket) connections are trusted so the superuser, who has no password, can set
    # the server up; TCP connections, the ones tests make, must give `ferry`'s password.
    result = _run(
        [
            str(bin_dir / "initdb"),
            "--pgdata",
            str(data_dir),
            "--username",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ],
        as_server=True,
        cwd=root,
    )
    if result.returncode != 0:
        raise PostgresError(f"initdb failed:\n{result.stdout}\n{result.stderr}")


def _start_server(bin_dir: Path, root: Path, data_dir: Path) -> int:
    # A free port can be taken between choosing it and the server binding it, so a start
    # that failed to bind is retried on another port.
    for attempt in range(1, START_ATTEMPTS + 1):
        port = _free_port()
        log_file = root / f"server-{attempt}.log"
        settings = " ".join(f"-c {shlex.quote(setting)}" for setting in SERVER_SETTINGS)
        options = f"-p {port} -k {shlex.quote(str(root))} {settings}"
        result = _run(
            [
                str(bin_dir / "pg_ctl"),
                "--pgdata",
                str(data_dir),
                "--log",
                str(log_file),
                "--options",
                options,
                "--wait",
                "--timeout",
                str(START_TIMEOUT_S),
                "start",
            ],
            as_server=True,
            cwd=root,
        )
        if result.returncode == 0:
            return port
        log = log_file.read_text(errors="replace") if log_file.exists() else "(no log written)"
        if "could not bind" not in log or attempt == START_ATTEMPTS:
            raise PostgresError(
                f"the PostgreSQL server did not start on port {port}:\n"
                f"{result.stdout}\n{result.stderr}\nserver log ({log_file}):\n{log}"
            )
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _stop_server(bin_dir: Path, root: Path, data_dir: Path) -> None:
    pg_ctl = str(bin_dir / "pg_ctl")
    # Stopped by its own data directory, so no other PostgreSQL on the machine is touched;
    # "fast" rolls back open transactions and disconnects clients instead of waiting.
    fast = [pg_ctl, "--pgdata", str(data_dir), "--mode", "fast", "--wait", "stop"]
    result = _run(fast, as_server=True, cwd=root)
    if result.returncode != 0 and (data_dir / "postmaster.pid").exists():
        immediate = [pg_ctl, "--pgdata", str(data_dir), "--mode", "immediate", "--wait", "stop"]
        result = _run(immediate, as_server=True, cwd=root)
        if result.returncode != 0:
            raise PostgresError(f"the PostgreSQL server did not stop:\n{result.stderr}")


def _run(
    argv: Sequence[str], *, as_server: bool, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    if as_server and os.geteuid() == 0:
        if shutil.which("runuser"):
            argv = ["runuser", "-u", SERVER_ACCOUNT, "--", *argv]
        else:
            argv = ["su", SERVER_ACCOUNT, "-s", "/bin/sh", "-c", shlex.join(argv)]
    # PG* variables from the environment (PGHOST, PGPASSWORD, PGDATA, ...) would quietly
    # point the programs somewhere else.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    try:
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PostgresError(f"{shlex.join(argv)} could not run: {exc}") from exc


def _server_bin_dir() -> Path | None:
    on_path = shutil.which("initdb")
    if on_path is not None and shutil.which("pg_ctl") is not None:
        return Path(on_path).resolve().parent
    versions = []
    for candidate in Path("/usr/lib/postgresql").glob("*/bin"):
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            # "15" or "9.6": compared as numbers, so 10 is newer than 9.6.
            numbers = tuple(int(part) for part in re.findall(r"\d+", candidate.parent.name))
            versions.append((numbers, candidate))
    return max(versions)[1] if versions else None


def _psql_path() -> str | None:
    bin_dir = _server_bin_dir()
    if bin_dir is not None and (bin_dir / "psql").is_file():
        return str(bin_dir / "psql")
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _primary_group(name: str) -> int:
    return pwd.getpwnam(name).pw_gid


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))
