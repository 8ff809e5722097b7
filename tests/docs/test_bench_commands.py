"""Every ``bench/*.py`` command line of docs/benchmarks.md uses only options its script's
``--help`` lists.

The page's commands take minutes, so the snippet runner skips them; this keeps them
from going stale instead. Commands are read from the page's shell blocks (continuation
lines joined, as the runner joins them) and from inline code spans in its prose, and
split as the shell splits them, so a quoted argument (``--worker-wrapper "py-spy ... --"``)
is one value, not options. An option must be spelt as ``--help`` lists it: argparse
would also take an abbreviation, but the page should not rely on that. A script whose
documented commands give no option is not asked for its ``--help``.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.docs.test_snippets import SHELLS, commands

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "benchmarks.md"
PYTHON = ROOT / ".venv" / "bin" / "python"

_FENCE = re.compile(r"^\s*(```+)\s*([\w+-]*)")
_SCRIPT = re.compile(r"(?:^|/)bench/(\w+\.py)$")
_SHELL_OPERATORS = {"|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "2>&1"}
_HELP_OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z0-9][\w-]*)")


def page_commands(text: str) -> list[str]:
    """The command lines of the page: those of its shell blocks, then its inline code."""
    lines = text.splitlines()
    found: list[str] = []
    prose: list[str] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            prose.append(lines[i])
            i += 1
            continue
        ticks, lang = fence.groups()
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(ticks):
            body.append(lines[i])
            i += 1
        i += 1
        if lang.lower() in SHELLS:
            found += commands("\n".join(body) + "\n")
    spans = re.findall(r"`([^`]+)`", "\n".join(prose))
    found += [" ".join(span.split()) for span in spans]
    return found


def script_calls(command: str) -> list[tuple[str, list[str]]]:
    """Each ``bench/<script>.py`` the command runs, with the options given to it."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:  # an unbalanced quote: prose, not a command
        return []
    calls: list[tuple[str, list[str]]] = []
    for at, word in enumerate(words):
        script = _SCRIPT.search(word)
        if script is None:
            continue
        options: list[str] = []
        for arg in words[at + 1 :]:
            if arg in _SHELL_OPERATORS or _SCRIPT.search(arg):
                break
            if arg.startswith("-") and arg not in ("-", "--"):
                options.append(arg.partition("=")[0])
        calls.append((script.group(1), options))
    return calls


def help_options(help_text: str) -> set[str]:
    """The options an argparse ``--help`` lists in its options section."""
    options: set[str] = set()
    inside = False
    for line in help_text.splitlines():
        if re.fullmatch(r"(options|optional arguments):", line.strip()):
            inside = True
            continue
        if inside and line.strip() and not line.startswith(" "):
            inside = False  # the next section (an epilog, say)
        if inside and line.lstrip().startswith("-"):
            names = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
            options.update(_HELP_OPTION.findall(names))
    return options


def unknown(options: Iterable[str], allowed: set[str]) -> list[str]:
    return sorted({option for option in options if option not in allowed})


def documented() -> dict[str, list[tuple[str, list[str]]]]:
    """Script name -> every documented command running it, with its options."""
    table: dict[str, list[tuple[str, list[str]]]] = {}
    for command in page_commands(PAGE.read_text(encoding="utf-8")):
        for script, options in script_calls(command):
            table.setdefault(script, []).append((command, options))
    return table


DOCUMENTED = documented()


def run_help(script: str) -> str:
    python = PYTHON if PYTHON.exists() else Path(sys.executable)
    done = subprocess.run(
        [str(python), f"bench/{script}", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"bench/{script} --help exited {done.returncode}:\n" + (
        done.stdout + done.stderr
    )
    return done.stdout


def test_the_page_documents_commands_of_each_benchmark() -> None:
    """The reader above found what the page shows: a parser that finds nothing passes all."""
    for script in ("bench_sqlite.py", "bench_delayed.py", "bench_redis.py", "bench_postgres.py"):
        assert script in DOCUMENTED, sorted(DOCUMENTED)
    for script in ("bench_django.py", "bench_django_peers.py"):
        assert script in DOCUMENTED, sorted(DOCUMENTED)
    given = [option for calls in DOCUMENTED.values() for _, options in calls for option in options]
    assert "--n" in given and "--worker-wrapper" in given and "--plot-only" in given
    assert "--threads" not in given  # py-spy's, inside the quoted --worker-wrapper value


@pytest.mark.parametrize("script", sorted(DOCUMENTED))
def test_documented_options_exist(script: str) -> None:
    assert (ROOT / "bench" / script).is_file(), f"docs/benchmarks.md runs bench/{script}"
    calls = DOCUMENTED[script]
    if not any(options for _, options in calls):
        return  # nothing to check against its --help
    allowed = help_options(run_help(script))
    assert "--help" in allowed, f"no options section read from bench/{script} --help"
    wrong = [
        f"{command}\n    unknown: {', '.join(bad)}"
        for command, options in calls
        if (bad := unknown(options, allowed))
    ]
    assert not wrong, f"bench/{script} --help lists {sorted(allowed)}; the page has:\n" + (
        "\n".join(wrong)
    )


def test_an_option_the_script_lacks_is_caught() -> None:
    help_text = run_help("bench_sqlite.py")
    allowed = help_options(help_text)
    assert {"--n", "--runs", "--worker-wrapper", "-h", "--help"} <= allowed
    command = '.venv/bin/python bench/bench_sqlite.py --n 10 --run 3 --out=x.json --wrapper "a --b"'
    [(script, options)] = script_calls(command)
    assert script == "bench_sqlite.py"
    assert options == ["--n", "--run", "--out", "--wrapper"]
    assert unknown(options, allowed) == ["--run", "--wrapper"]  # an abbreviation is wrong too
