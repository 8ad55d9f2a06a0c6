"""import_app("module:attr"): find the ASGI application that `ferry serve` is asked to run.

Every way the lookup can fail becomes an `ImportFromStringError` whose message names what was
not found: the format, the module, or the attribute. One case is kept apart on purpose: an
`ImportError` raised while the user's module runs (say it imports a package that is not
installed) is the user's bug, not a missing module, so its own message is reported with the
file and line it came from. Other exceptions from the user's code propagate unchanged, with
their traceback.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from types import ModuleType
from typing import cast

from ferry.server.errors import ImportFromStringError
from ferry.server.types import ASGIApplication


def import_app(
    target: str, *, factory: bool = False, app_dir: str | None = None
) -> ASGIApplication:
    """Import the ASGI application named by `target`, "module:attr".

    `attr` may be dotted ("main:api.app"). With `factory=True` the attribute is called with no
    arguments and its return value is the application. `app_dir`, when given, is put first on
    `sys.path` so that modules in it are found before any installed ones.

    Raises:
        ImportFromStringError: `target` is not "MODULE:ATTR"; the module, or a package on its
            path, does not exist; the module raised `ImportError` while it was imported; the
            attribute does not exist; or the result is not callable.

    Example:
        >>> app = import_app("myproject.main:app", app_dir="src")  # doctest: +SKIP
    """
    module_name, sep, attr_path = target.partition(":")
    if not sep or not module_name.strip() or not attr_path.strip():
        raise ImportFromStringError(
            f"app: {target!r} is not an import string: expected MODULE:ATTR"
        )
    module_name, attr_path = module_name.strip(), attr_path.strip()

    if app_dir is not None and (not sys.path or sys.path[0] != app_dir):
        sys.path.insert(0, app_dir)

    module = _import_module(module_name)
    app: object = module
    for part in attr_path.split("."):
        try:
            app = getattr(app, part)
        except AttributeError:
            raise ImportFromStringError(
                f"app: module {module_name!r} has no attribute {attr_path!r}"
            ) from None

    if factory:
        if not callable(app):
            raise ImportFromStringError(f"app: factory {target!r} is not callable")
        app = app()
        if not callable(app):
            raise ImportFromStringError(
                f"app: factory {target!r} returned {type(app).__name__}, not an ASGI application"
            )
    elif not callable(app):
        raise ImportFromStringError(
            f"app: {target!r} is a {type(app).__name__}, not an ASGI application"
        )
    # Only callability can be checked here; the ASGI signature is the app's promise.
    return cast(ASGIApplication, app)


def _import_module(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # `exc.name` is the module that could not be found. When it is the target or one of
        # its parent packages, the target is missing; anything else was imported by the
        # target's own code, and is reported as that code's error below.
        if exc.name is not None and _is_self_or_parent(exc.name, module_name):
            raise ImportFromStringError(
                f"app: module {exc.name!r} not found (importing {module_name!r})"
                if exc.name != module_name
                else f"app: module {module_name!r} not found"
            ) from None
        raise _error_inside_module(module_name, exc) from exc
    except ImportError as exc:
        raise _error_inside_module(module_name, exc) from exc


def _is_self_or_parent(name: str, module_name: str) -> bool:
    return module_name == name or module_name.startswith(name + ".")


def _error_inside_module(module_name: str, exc: ImportError) -> ImportFromStringError:
    # The last frame outside this module and the import machinery is the line in the user's
    # code that raised; there is none when importlib itself refused the module.
    machinery = (__file__, importlib.__file__)
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.filename not in machinery and not frame.filename.startswith("<frozen ")
    ]
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return ImportFromStringError(
        f"app: importing {module_name!r} raised {type(exc).__name__}: {exc}{where}"
    )
