"""StaticFiles: an ASGI app that serves the files under a directory.

    app = StaticFiles(directory="static")                 GET /css/site.css -> static/css/site.css
    app = StaticFiles(directory="site", html=True)        GET /docs/ -> site/docs/index.html
    app = StaticFiles(packages=[("my_pkg", "statics")])   a folder shipped inside a package

Every file is sent by FileResponse, so ETags, 304s and byte ranges come with it.

What it refuses, always as a 404 (never a hint of what exists outside the directory):
a `..` segment, NUL bytes, backslashes, absolute paths, and any path whose resolved form is
not inside the directory (compared by `os.path.commonpath`, so `/srv/static` never serves
`/srv/static-secret/...`). Symlinks that lead outside are refused unless `follow_symlink`.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import stat

from ferry.asgi.concurrency import run_in_threadpool
from ferry.asgi.datastructures import URL
from ferry.asgi.files import FileResponse
from ferry.asgi.responses import PlainTextResponse, RedirectResponse, Response
from ferry.asgi.types import Receive, Scope, Send

__all__ = ["StaticFiles"]

PathLike = str | os.PathLike[str]


class StaticFiles:
    """Serve files from `directory` and from each of `packages`, looked up in that order.

    `packages` entries are a package name (its `statics` folder) or a `(package, folder)`
    pair. With `html=True`, a directory's `index.html` answers for it (`/docs` redirects to
    `/docs/` first) and a top-level `404.html`, if there is one, is the not-found page.
    GET and HEAD only; other methods get a 405.

    Raises:
        RuntimeError: `check_dir` and `directory` does not exist (at construction); a
            package or its folder cannot be found (at construction); `directory` is
            missing or not a directory (at the first request, when `check_dir=False`).
    """

    def __init__(
        self,
        *,
        directory: PathLike | None = None,
        packages: list[str | tuple[str, str]] | None = None,
        html: bool = False,
        check_dir: bool = True,
        follow_symlink: bool = False,
    ) -> None:
        self.directory = directory
        self.packages = packages
        self.all_directories = self.get_directories(directory, packages)
        self.html = html
        self.config_checked = False
        self.follow_symlink = follow_symlink
        if check_dir and directory is not None and not os.path.isdir(directory):
            raise RuntimeError(f"Directory '{directory}' does not exist")

    def get_directories(
        self,
        directory: PathLike | None = None,
        packages: list[str | tuple[str, str]] | None = None,
    ) -> list[PathLike]:
        """The directories to look in: `directory`, then each package's folder."""
        directories: list[PathLike] = []
        if directory is not None:
            directories.append(directory)
        for package in packages or []:
            if isinstance(package, tuple):
                package, statics_dir = package
            else:
                statics_dir = "statics"
            try:
                spec = importlib.util.find_spec(package)
            except ModuleNotFoundError:
                spec = None
            if spec is None or spec.origin is None:
                raise RuntimeError(f"Package {package!r} could not be found.")
            package_directory = os.path.normpath(os.path.join(spec.origin, "..", statics_dir))
            if not os.path.isdir(package_directory):
                raise RuntimeError(
                    f"Directory {statics_dir!r} in package {package!r} could not be found."
                )
            directories.append(package_directory)
        return directories

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError(f"StaticFiles serves 'http' scopes only, not {scope['type']!r}.")
        if not self.config_checked:
            await self.check_config()
            self.config_checked = True
        path = self.get_path(scope)
        response = await self.get_response(path, scope)
        await response(scope, receive, send)

    def get_path(self, scope: Scope) -> str:
        """The request's path below the mount point, as a relative filesystem path.

        `..` segments are kept here on purpose: `lookup_path` refuses them.
        """
        parts = [part for part in _route_path(scope).split("/") if part not in ("", ".")]
        return os.path.join(*parts) if parts else "."

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The response for the relative `path`: a file, a redirect, a 404 or a 405."""
        if scope["method"] not in ("GET", "HEAD"):
            # RFC 9110 §15.5.6: a 405 names the methods that are allowed.
            return PlainTextResponse(
                "Method Not Allowed", status_code=405, headers={"allow": "GET, HEAD"}
            )
        full_path, stat_result = await run_in_threadpool(self.lookup_path, path)
        if stat_result is not None and stat.S_ISREG(stat_result.st_mode):
            return self.file_response(full_path, stat_result, scope)
        if stat_result is not None and stat.S_ISDIR(stat_result.st_mode) and self.html:
            index_path = os.path.join(path, "index.html")
            full_path, stat_result = await run_in_threadpool(self.lookup_path, index_path)
            if stat_result is not None and stat.S_ISREG(stat_result.st_mode):
                if not scope["path"].endswith("/"):
                    # Relative links in the page resolve against the directory only when
                    # its URL ends with a slash.
                    url = URL(scope=scope)
                    return RedirectResponse(url=url.replace(path=url.path + "/"))
                return self.file_response(full_path, stat_result, scope)
        if self.html:
            full_path, stat_result = await run_in_threadpool(self.lookup_path, "404.html")
            if stat_result is not None and stat.S_ISREG(stat_result.st_mode):
                return FileResponse(full_path, stat_result=stat_result, status_code=404)
        return PlainTextResponse("Not Found", status_code=404)

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        """The full path and stat of `path` in the first directory that has it, or
        `("", None)`. Runs in a worker thread: it touches the filesystem."""
        if not _is_plain_relative(path):
            return "", None
        for directory in self.all_directories:
            joined_path = os.path.join(directory, path)
            if self.follow_symlink:
                full_path = os.path.abspath(joined_path)
                root = os.path.abspath(directory)
            else:
                full_path = os.path.realpath(joined_path)
                root = os.path.realpath(directory)
            # commonpath compares whole segments: a startswith() check would let
            # "/srv/static" serve "/srv/static-secret/key.pem".
            if os.path.commonpath([full_path, root]) != root:
                continue
            try:
                return full_path, os.stat(full_path)
            except (FileNotFoundError, NotADirectoryError, PermissionError):
                continue
            except OSError as exc:
                if exc.errno == errno.ENAMETOOLONG:
                    continue
                raise
        return "", None

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        """The FileResponse for a found file; it answers If-None-Match and Range itself."""
        return FileResponse(full_path, status_code=status_code, stat_result=stat_result)

    async def check_config(self) -> None:
        """Check, once, that `directory` is a directory (for `check_dir=False`).

        Raises:
            RuntimeError: it does not exist or is not a directory.
        """
        if self.directory is None:
            return
        try:
            stat_result = await run_in_threadpool(os.stat, self.directory)
        except FileNotFoundError:
            raise RuntimeError(
                f"StaticFiles directory '{self.directory}' does not exist."
            ) from None
        if not stat.S_ISDIR(stat_result.st_mode):
            raise RuntimeError(f"StaticFiles path '{self.directory}' is not a directory.")


def _route_path(scope: Scope) -> str:
    # The router mounts this app under a prefix: it sets root_path to the prefix and keeps
    # the full path in `path` (ASGI), so the part to look up is what follows root_path.
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    rest = path[len(root_path) :]
    if rest and not rest.startswith("/"):
        return path  # "/static" is not a prefix of "/staticky"
    return rest


def _is_plain_relative(path: str) -> bool:
    # Refused before any filesystem call: NUL ends a C string early (and makes os.stat
    # raise), a backslash is a separator on Windows, and `..` climbs out of the directory.
    # The commonpath check after resolving is the second line of defence, not the only one.
    if "\0" in path or "\\" in path or os.path.isabs(path) or os.path.splitdrive(path)[0]:
        return False
    return ".." not in path.split(os.sep)
