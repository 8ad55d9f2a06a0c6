"""Every code example in the docs is a file the suite runs, and every command line is real.

The rule for a ```python (or py, python3, pycon) block in docs/*.md or a README.md; it is one of:

1. a snippet include, which pymdownx.snippets replaces with the file at build time:

       --8<--
       docs/examples/NAME.py
       --8<--

   (this block form, which ruff's Markdown formatting leaves alone; `--8<-- "PATH"` on one
   line works too, but ruff would rewrite it). PATH is an example under docs/examples/, run by
   a test there, or a file of the project's own source quoted as it is;
2. a copy, for pages read outside the site (the README files): the line just above the fence
   is `<!-- copy of docs/examples/NAME.py -->` and the block is that file, character for
   character;
3. an excerpt of the project's source: the line above is `<!-- excerpt of PATH -->` and the
   block's lines appear in PATH, in that order. A line that starts with `...` stands for
   lines left out; `def f(x): ...` for a def whose body is left out; a comment after two
   spaces (`  # why`) may be added to a line.

Other fences (bash, console, sh, ini, nginx, text, none) are exempt, but each `ferry serve`
(or other `ferry` subcommand) written anywhere on a page may use only options that exist.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from tests.docs.pages import (
    EXAMPLES,
    ROOT,
    Block,
    blocks,
    option_strings,
    pages,
    subcommand_parsers,
)

PYTHON = {"python", "py", "python3", "pycon"}
SNIPPET = re.compile(r'^--8<-- "(?P<path>[^":]+)(?::[^"]*)?"$')
COPY = re.compile(r"^<!-- copy of (?P<path>\S+) -->$")
EXCERPT = re.compile(r"^<!-- excerpt of (?P<path>\S+) -->$")
ELIDED_BODY = re.compile(r"^(.*:) \.\.\.$")  # `async def f(x) -> None: ...`


def python_blocks() -> list[Block]:
    return [block for page in pages() for block in blocks(page) if block.language in PYTHON]


def check_block(block: Block) -> str | None:
    """Why `block` breaks the rule, or None when it keeps it."""
    lines = [line.strip() for line in block.text.splitlines() if line.strip()]
    if len(lines) > 2 and lines[0] == lines[-1] == "--8<--":
        included = lines[1:-1]
    elif lines and all(snippets := [SNIPPET.match(line) for line in lines]):
        included = [match["path"] for match in snippets if match is not None]
    else:
        included = []
    for name in included:
        if not (ROOT / name.split(":")[0]).is_file():
            return f"{block.where}: the snippet {name} does not exist"
    if included:
        return None
    if copy := COPY.match(block.marker):
        path = ROOT / copy["path"]
        if not path.is_file() or path.parent != EXAMPLES:
            return f"{block.where}: {copy['path']} is not a file in docs/examples/"
        if block.text.rstrip("\n") != path.read_text(encoding="utf-8").rstrip("\n"):
            return f"{block.where}: the block differs from {copy['path']}; copy the file again"
        return None
    if excerpt := EXCERPT.match(block.marker):
        path = ROOT / excerpt["path"]
        if not path.is_file():
            return f"{block.where}: {excerpt['path']} does not exist"
        source = iter(_code(line) for line in path.read_text(encoding="utf-8").splitlines())
        for line in lines:
            quoted = _code(line)
            # `in` consumes the iterator up to the match, so the lines must come in order.
            if not quoted.startswith("...") and quoted not in source:
                return f"{block.where}: {line!r} is not in {excerpt['path']} (in this order)"
        return None
    return (
        f"{block.where}: an inline python block; make it a file in docs/examples/ with a test,"
        ' and include it with --8<-- "docs/examples/NAME.py" (see this test\'s docstring)'
    )


def _code(line: str) -> str:
    """A line as an excerpt compares it: stripped, without a comment, `: ...` cut to `:`."""
    return ELIDED_BODY.sub(r"\1", line.strip().split("  # ")[0].rstrip())


def test_every_python_block_is_a_tested_file_or_marked() -> None:
    assert python_blocks(), "no python block found: is the scan broken?"
    problems = [problem for block in python_blocks() if (problem := check_block(block))]
    assert not problems, "\n".join(problems)


def test_every_example_module_is_run_by_a_test() -> None:
    tests = "\n".join(path.read_text(encoding="utf-8") for path in EXAMPLES.glob("test_*.py"))
    modules = [
        path.stem
        for path in EXAMPLES.glob("*.py")
        if not path.stem.startswith("test_") and path.stem != "__init__"
    ]
    unrun = [name for name in modules if not re.search(rf"\b{name}\b", tests)]
    assert not unrun, f"docs/examples modules no test imports: {unrun}"


def test_the_rule_refuses_inline_code_and_stale_copies(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nprint('hi')\n```\n\n"
        "<!-- copy of docs/examples/hello.py -->\n```python\nprint('hi')\n```\n\n"
        "```python\n--8<--\ndocs/examples/hello.py\n--8<--\n```\n\n"
        "```python\n--8<--\ndocs/examples/nothing.py\n--8<--\n```\n\n"
        "<!-- excerpt of docs/examples/hello.py -->\n```python\n"
        'if scope["type"] != "http":\n...\n'
        'await send({"type": "http.response.body", "body": b"Hello, world!"})\n```\n\n'
        "<!-- excerpt of docs/examples/hello.py -->\n```python\nasync def app(scope: Scope, "
        "receive: ASGIReceiveCallable, send: ASGISendCallable) -> None: ...  # the app\n```\n",
        encoding="utf-8",
    )
    verdicts = [check_block(block) for block in blocks(page)]
    assert "inline python block" in str(verdicts[0])
    assert "differs" in str(verdicts[1])
    assert verdicts[2] is None
    assert "does not exist" in str(verdicts[3])
    assert verdicts[4:] == [None, None]


# --- command lines ---

# `ferry serve ...` up to the end of a code span or line; a trailing backslash continues it.
COMMAND = re.compile(r"\bferry (?P<command>[a-z]+)(?P<rest>(?:[^`\n\\]|\\\n|\\(?!\n))*)")


def ferry_commands(text: str) -> list[tuple[str, list[str]]]:
    """Each `ferry SUBCOMMAND ...` in `text`, with the options it uses."""
    found = []
    for match in COMMAND.finditer(text):
        rest = match["rest"].replace("\\\n", " ").split("#")[0]
        try:
            words = shlex.split(rest)
        except ValueError:
            words = rest.split()
        options = [word.split("=")[0] for word in words if word.startswith("--")]
        found.append((match["command"], options))
    return found


def test_ferry_commands_in_the_docs_use_real_options() -> None:
    parsers = subcommand_parsers()
    problems = []
    seen = 0
    for page in pages():
        for command, options in ferry_commands(page.read_text(encoding="utf-8")):
            if command not in parsers:
                continue  # prose such as "ferry carries"; a subcommand yet to come
            seen += 1
            known = option_strings(parsers[command]) | {"--help"}
            problems += [
                f"{page.relative_to(ROOT)}: ferry {command} has no option {option}"
                for option in options
                if option not in known
            ]
    assert seen > 10, "few ferry commands found: is the scan broken?"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "`ferry serve main:app --port 80 --no-access-log`",
            [("serve", ["--port", "--no-access-log"])],
        ),
        ("$ ferry serve main:app \\\n    --workers=4\nmore", [("serve", ["--workers"])]),
        ("ferry serve main:app  # --not-an-option", [("serve", [])]),
    ],
)
def test_command_scan(text: str, expected: list[tuple[str, list[str]]]) -> None:
    assert ferry_commands(text) == expected
