"""import_app: finding "module:attr", and errors that name what was not found."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferry.server.errors import ImportFromStringError, StartupError
from ferry.server.importer import import_app

APP = """
async def app(scope, receive, send):
    pass
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory for throwaway modules; sys.path and sys.modules are restored after."""
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    yield tmp_path
    sys.path[:] = saved_path
    for name in set(sys.modules) - saved_modules:
        del sys.modules[name]


def write_module(directory: Path, source: str, name: str | None = None) -> str:
    """Write a module with a unique name (so no test sees another's import); return its name."""
    name = name or f"mod_{uuid.uuid4().hex}"
    path = directory.joinpath(*name.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return name


def test_app_is_found_by_module_and_attribute(app_dir: Path) -> None:
    module = write_module(app_dir, APP)
    app = import_app(f"{module}:app", app_dir=str(app_dir))
    assert app is sys.modules[module].app


def test_dotted_attribute_is_followed(app_dir: Path) -> None:
    module = write_module(
        app_dir,
        """
        class Holder:
            async def app(scope, receive, send):
                pass

        holder = Holder
        """,
    )
    app = import_app(f"{module}:holder.app", app_dir=str(app_dir))
    assert app is sys.modules[module].Holder.app


def test_module_inside_a_package_is_found(app_dir: Path) -> None:
    package = f"pkg_{uuid.uuid4().hex}"
    write_module(app_dir, "", name=f"{package}.__init__")
    write_module(app_dir, APP, name=f"{package}.main")
    app = import_app(f"{package}.main:app", app_dir=str(app_dir))
    assert callable(app)


def test_whitespace_around_the_parts_is_ignored(app_dir: Path) -> None:
    module = write_module(app_dir, APP)
    assert callable(import_app(f" {module} : app ", app_dir=str(app_dir)))


@pytest.mark.parametrize("target", ["main", "main:", ":app", "", " : "])
def test_target_without_module_and_attribute_says_what_is_expected(target: str) -> None:
    with pytest.raises(ImportFromStringError, match="expected MODULE:ATTR"):
        import_app(target)


def test_unknown_module_names_the_module(app_dir: Path) -> None:
    with pytest.raises(ImportFromStringError, match="module 'no_such_module_x' not found"):
        import_app("no_such_module_x:app", app_dir=str(app_dir))


def test_unknown_submodule_names_the_submodule(app_dir: Path) -> None:
    package = f"pkg_{uuid.uuid4().hex}"
    write_module(app_dir, "", name=f"{package}.__init__")
    with pytest.raises(ImportFromStringError, match=f"module '{package}.missing' not found"):
        import_app(f"{package}.missing:app", app_dir=str(app_dir))


def test_unknown_parent_package_names_the_package() -> None:
    with pytest.raises(
        ImportFromStringError,
        match=r"module 'no_such_package_x' not found .*'no_such_package_x\.sub'",
    ):
        import_app("no_such_package_x.sub:app")


def test_missing_import_inside_the_module_keeps_its_own_message(app_dir: Path) -> None:
    module = write_module(app_dir, "import not_installed_dependency_x\n" + APP)
    with pytest.raises(ImportFromStringError) as caught:
        import_app(f"{module}:app", app_dir=str(app_dir))
    message = str(caught.value)
    assert "No module named 'not_installed_dependency_x'" in message
    assert f"{module}.py:1" in message  # where in the user's code it happened
    assert f"module '{module}' not found" not in message
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


def test_failed_name_import_inside_the_module_keeps_its_own_message(app_dir: Path) -> None:
    module = write_module(app_dir, "from os import no_such_name_x\n" + APP)
    with pytest.raises(
        ImportFromStringError, match="ImportError: cannot import name 'no_such_name_x'"
    ):
        import_app(f"{module}:app", app_dir=str(app_dir))


def test_other_exceptions_in_the_module_propagate_unchanged(app_dir: Path) -> None:
    module = write_module(app_dir, "raise RuntimeError('broken at import')\n")
    with pytest.raises(RuntimeError, match="broken at import"):
        import_app(f"{module}:app", app_dir=str(app_dir))


def test_unknown_attribute_names_the_module_and_the_attribute(app_dir: Path) -> None:
    module = write_module(app_dir, APP)
    with pytest.raises(ImportFromStringError, match=f"module '{module}' has no attribute 'api'"):
        import_app(f"{module}:api", app_dir=str(app_dir))


def test_unknown_dotted_attribute_names_the_whole_path(app_dir: Path) -> None:
    module = write_module(app_dir, APP)
    with pytest.raises(ImportFromStringError, match=r"has no attribute 'app\.router'"):
        import_app(f"{module}:app.router", app_dir=str(app_dir))


def test_factory_is_called_with_no_arguments(app_dir: Path) -> None:
    module = write_module(
        app_dir,
        """
        async def real_app(scope, receive, send):
            pass

        def create_app():
            return real_app
        """,
    )
    app = import_app(f"{module}:create_app", factory=True, app_dir=str(app_dir))
    assert app is sys.modules[module].real_app


def test_factory_that_is_not_callable_is_an_error(app_dir: Path) -> None:
    module = write_module(app_dir, "create_app = 42\n")
    with pytest.raises(ImportFromStringError, match=r"factory .* is not callable"):
        import_app(f"{module}:create_app", factory=True, app_dir=str(app_dir))


def test_factory_that_returns_no_application_is_an_error(app_dir: Path) -> None:
    module = write_module(app_dir, "def create_app():\n    return None\n")
    with pytest.raises(ImportFromStringError, match="returned NoneType, not an ASGI application"):
        import_app(f"{module}:create_app", factory=True, app_dir=str(app_dir))


def test_app_that_is_not_callable_is_an_error(app_dir: Path) -> None:
    module = write_module(app_dir, "app = {'not': 'an app'}\n")
    with pytest.raises(ImportFromStringError, match="is a dict, not an ASGI application"):
        import_app(f"{module}:app", app_dir=str(app_dir))


def test_app_dir_goes_first_on_sys_path_once(app_dir: Path) -> None:
    module = write_module(app_dir, APP)
    import_app(f"{module}:app", app_dir=str(app_dir))
    import_app(f"{module}:app", app_dir=str(app_dir))
    assert sys.path[0] == str(app_dir)
    assert sys.path.count(str(app_dir)) == 1


def test_import_errors_are_startup_errors() -> None:
    with pytest.raises(StartupError):
        import_app("no_such_module_x:app")
