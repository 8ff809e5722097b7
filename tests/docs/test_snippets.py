"""Every fenced block of README.md and docs/ runs, as a reader following the page would
run it, and what the text says it prints is checked.

The conventions (docs writers: keep to them; the parser below is their one definition):

1. A page is one session: its blocks run in order in one fresh directory, with the
   environment minus every ``QTASKS_*`` variable and ``PATH`` starting with this
   interpreter's ``bin`` (``python``, ``qtasks`` and ``pip`` are the test venv's).
2. A block (any language but shell) whose first line is a comment naming a relative path
   (``# app.py``, ``# proj/settings.py``, ``# pyproject.toml``) is written to that path.
3. Any other ``python`` block is saved as ``_snippet_<line>.py`` and run with ``python``
   (60 s at most); it must exit 0.
4. In a ``sh``/``bash``/``console`` block each command line runs with bash (``$ `` prefix
   stripped, ``\\`` continuations joined, blank and comment lines skipped) and must exit 0
   — or, after ``<!-- snippet: fails -->``, must exit non-zero. An ``export`` line sets its
   variables for the rest of the page, as in the reader's shell.
5. A command that runs a worker and does not end by itself (``qtasks ... run`` or
   ``manage.py qtasks_worker`` without ``--burst``, or a line ending in ``&``) starts in
   the background until the page ends (then SIGTERM, SIGKILL after 15 s). Exiting
   non-zero before that fails the page.
6. A trailing ``# -> TEXT`` comment says TEXT is printed: each expectation of a block
   matches a line of its output (stdout; stdout and stderr for shell), in order. Both
   sides are stripped, whitespace runs compare equal and ``...`` matches anything.
7. A block after ``<!-- snippet: output -->`` is the expected output of the previous run
   block: each non-blank line matches one of its lines, in order, by the same rule.
8. Hidden steps, for what a reader has already done: ``<!-- snippet: sh`` / ``python`` /
   ``file PATH`` with the body on the following lines up to ``-->``, and
   ``<!-- snippet: env NAME=VALUE ... -->`` for the rest of the page.
9. ``<!-- snippet: skip REASON -->``: the next block is not run; each skip is reported as
   a skipped test with its reason.
10. Other blocks (``text``, ``json``, no language) are prose unless marked as output.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SHELLS = {"sh", "bash", "console", "shell"}
TIMEOUT = 60.0
STOP_WAIT = 15.0

_FENCE = re.compile(r"^(\s*)(```+)\s*([\w+-]*)")
_DIRECTIVE = re.compile(r"^<!--\s*snippet:\s*(\w+)\s*(.*?)\s*(-->)?\s*$")
_FILE_LINE = re.compile(r"^(?:#|//|;)\s*([\w./-]+\.\w+)\s*$")
_EXPECT = re.compile(r"\s#\s*->\s?(.*)$")
#: The README's opening commands: the demo is run by tests/docs/test_demo.py, and the test
#: command is what runs this test (the README must open with them, so no directive there).
_OPENING = "bash scripts/demo.sh"
_OPENING_REASON = "the README's two set-up commands: tests/docs/test_demo.py runs the demo"
_WORKER = re.compile(
    r"(^|[\s/])(qtasks(\s+-\S+(\s+[^-\s]\S*)?)*\s+run|manage\.py\s+qtasks_worker)(\s|$)"
)


def _backgrounded(command: str) -> bool:
    """Whether a shell command line ends with ``&`` (a trailing comment aside)."""
    lexer = shlex.shlex(command, posix=False, punctuation_chars=True)  # quotes kept
    lexer.commenters = "#"
    try:
        tokens = list(lexer)
    except ValueError:  # an unclosed quote: not ours to judge
        return False
    return bool(tokens) and tokens[-1] == "&"


@dataclass
class Block:
    """One step of a page: a fenced block, or a hidden one from a directive."""

    kind: str  # file | python | shell | output | env | skip
    line: int
    body: str = ""
    path: str = ""
    fails: bool = False
    reason: str = ""
    expect: list[str] = field(default_factory=list)


def parse(page: Path) -> list[Block]:
    """The page's steps, in order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    pending: dict[str, str] = {}
    i = 0
    while i < len(lines):
        text = lines[i]
        directive = _DIRECTIVE.match(text)
        fence = _FENCE.match(text)
        if directive:
            word, rest, closed = directive.group(1), directive.group(2), directive.group(3)
            body: list[str] = []
            if not closed:  # a hidden body, up to the closing -->
                i += 1
                while i < len(lines) and lines[i].strip() != "-->":
                    body.append(lines[i])
                    i += 1
            start = i + 1 - len(body)
            if word in ("skip", "fails", "output"):
                pending[word] = rest
            elif word == "env":
                blocks.append(Block("env", start, body=rest))
            elif word in ("sh", "python"):
                kind = "shell" if word == "sh" else "python"
                blocks.append(_block(kind, start, "\n".join(body) + "\n", hidden=True))
            elif word == "file":
                blocks.append(Block("file", start, body="\n".join(body) + "\n", path=rest))
            else:
                raise ValueError(f"{page.name}:{start}: unknown snippet directive {word!r}")
            i += 1
            continue
        if fence:
            indent, ticks, lang = fence.groups()
            start = i + 1
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(ticks):
                line = lines[i]
                body.append(line[len(indent) :] if line.startswith(indent) else line)
                i += 1
            i += 1
            code = "\n".join(body) + "\n"
            if "skip" not in pending and code.lstrip().startswith(_OPENING):
                pending["skip"] = _OPENING_REASON
            if "skip" in pending:
                blocks.append(Block("skip", start, reason=pending["skip"] or "no reason given"))
            elif "output" in pending:
                blocks.append(Block("output", start, expect=[x for x in body if x.strip()]))
            else:
                kind = "shell" if lang.lower() in SHELLS else lang.lower()
                block = _block(kind, start, code)
                block.fails = "fails" in pending
                if block.kind in ("file", "python", "shell"):
                    blocks.append(block)
            pending.clear()
            continue
        i += 1
    return blocks


def _block(kind: str, line: int, code: str, *, hidden: bool = False) -> Block:
    first = code.split("\n", 1)[0].strip()
    named = _FILE_LINE.match(first)
    if kind != "shell" and named and not hidden:
        return Block("file", line, body=code, path=named.group(1))
    if kind not in ("python", "shell"):
        return Block(kind, line, body=code)
    expect = [m.group(1) for m in map(_EXPECT.search, code.splitlines()) if m]
    return Block(kind, line, body=code, expect=expect)


def commands(body: str) -> list[str]:
    """A shell block's command lines: prompts stripped, continuations joined."""
    out: list[str] = []
    current = ""
    for raw in body.splitlines():
        line = raw.rstrip()
        if not current:
            line = line.lstrip()
            if line.startswith("$ "):
                line = line[2:]
            if not line or line.startswith("#"):
                continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        out.append(current + line)
        current = ""
    if current:
        out.append(current)
    return out


def matches(expected: str, line: str) -> bool:
    """``expected`` against one output line: stripped, whitespace runs equal, ``...`` any."""
    norm_line = " ".join(line.split())
    parts = [re.escape(" ".join(p.split())) for p in expected.strip().split("...")]
    return re.fullmatch(".*".join(parts), norm_line) is not None


def missing(expected: list[str], output: str) -> str | None:
    """The first expectation not found, in order, among ``output``'s lines."""
    lines = output.splitlines()
    at = 0
    for want in expected:
        while at < len(lines) and not matches(want, lines[at]):
            at += 1
        if at == len(lines):
            return want
        at += 1
    return None


class Session:
    """One page's directory, environment and background processes."""

    def __init__(self, page: Path, where: Path) -> None:
        self.page = page
        self.dir = where
        bindir = str(Path(sys.executable).parent)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("QTASKS_")}
        self.env["PATH"] = bindir + os.pathsep + self.env.get("PATH", "")
        self.env["PYTHONUNBUFFERED"] = "1"
        self.background: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        self.last_output = ""

    def label(self, block: Block) -> str:
        return f"{_page_id(self.page)}:{block.line}"

    def run(self, block: Block) -> None:
        self.check_background()
        if block.kind == "env":
            for item in shlex.split(block.body):
                name, _, value = item.partition("=")
                self.env[name] = value
        elif block.kind == "file":
            target = self.dir / block.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.body, encoding="utf-8")
        elif block.kind == "python":
            script = self.dir / f"_snippet_{block.line}.py"
            script.write_text(block.body, encoding="utf-8")
            done = self.foreground(block, ["python", script.name])
            self.expect(block, block.expect, done.stdout, done.stdout + done.stderr)
        elif block.kind == "shell":
            self.shell(block)
        elif block.kind == "output":
            self.expect(block, block.expect, self.last_output, self.last_output)

    def shell(self, block: Block) -> None:
        outputs = []
        for command in commands(block.body):
            bare = _EXPECT.sub("", command).rstrip()
            if bare.startswith("export "):  # as in the reader's shell: for the next lines
                self.export(block, bare)
                continue
            if _backgrounded(bare):  # `cmd &  # a comment`: the & ends the command
                self.start(bare[: bare.rfind("&")].rstrip())
                continue
            if _WORKER.search(bare) and not {"--burst", "--help"} & set(bare.split()):
                self.start(bare)
                continue
            done = self.foreground(block, ["bash", "-c", command], fails=block.fails)
            outputs.append(done.stdout + done.stderr)
        output = "\n".join(outputs)
        self.expect(block, block.expect, output, output)

    def export(self, block: Block, line: str) -> None:
        """``export NAME=VALUE ...``: bash expands the values, the session keeps them."""
        names = [item.partition("=")[0] for item in shlex.split(line[len("export ") :])]
        script = f"{line}\n" + "".join(f'printf "%s\\0" "${{{n}}}"\n' for n in names)
        done = self.foreground(block, ["bash", "-c", script])
        self.env.update(zip(names, done.stdout.split("\0"), strict=False))

    def foreground(
        self, block: Block, argv: list[str], *, fails: bool = False
    ) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                argv,
                cwd=self.dir,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            self.fail(block, f"{argv[-1]!r} still running after {TIMEOUT:.0f}s", exc.stdout)
        if (done.returncode != 0) != fails:
            want = "non-zero" if fails else "0"
            self.fail(
                block,
                f"{argv[-1]!r} exited {done.returncode}, expected {want}",
                done.stdout + done.stderr,
            )
        self.last_output = done.stdout + done.stderr if argv[0] == "bash" else done.stdout
        return done

    def start(self, command: str) -> None:
        """Run ``command`` in the background until the page ends (never ``cmd &`` in a
        shell that exits at once: nothing would stop it then)."""
        log = self.dir / f"_background_{len(self.background)}.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                ["bash", "-c", f"exec {command}"],
                cwd=self.dir,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.background.append((command, proc, log))

    def check_background(self) -> None:
        for command, proc, log in self.background:
            code = proc.poll()
            if code not in (None, 0):
                pytest.fail(
                    f"{_page_id(self.page)}: background {command!r} exited {code}:\n"
                    + log.read_text(errors="replace")
                )

    def expect(self, block: Block, expected: list[str], output: str, shown: str) -> None:
        absent = missing(expected, output)
        if absent is not None:
            self.fail(block, f"expected a line matching {absent!r}", shown)

    def fail(self, block: Block, message: str, output: object) -> None:
        text = output.decode(errors="replace") if isinstance(output, bytes) else str(output or "")
        logs = "".join(
            f"\n--- background {cmd!r}:\n{log.read_text(errors='replace')}"
            for cmd, _, log in self.background
        )
        pytest.fail(f"{self.label(block)}: {message}\n--- output:\n{text}{logs}", pytrace=False)

    def close(self) -> None:
        for _, proc, _ in self.background:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc, _ in self.background:
            try:
                proc.wait(timeout=STOP_WAIT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name


_SKIPS = [(page, block) for page in PAGES for block in parse(page) if block.kind == "skip"]


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_page_runs(page: Path, tmp_path: Path) -> None:
    session = Session(page, tmp_path)
    try:
        for block in parse(page):
            session.run(block)
        session.check_background()
    finally:
        session.close()


@pytest.mark.parametrize(
    ("page", "block"), _SKIPS, ids=[f"{_page_id(p)}:{b.line}" for p, b in _SKIPS]
)
def test_skipped_block(page: Path, block: Block) -> None:
    pytest.skip(f"{_page_id(page)}:{block.line}: {block.reason}")
