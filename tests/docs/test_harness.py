"""The snippet runner itself: a page it passes must really pass, and a wrong claim fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs import test_snippets as snippets


def run_page(tmp_path: Path, text: str) -> None:
    page = tmp_path / "page.md"
    page.write_text(text, encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    session = snippets.Session(page, work)
    try:
        for block in snippets.parse(page):
            session.run(block)
        session.check_background()
    finally:
        session.close()


def test_matching_rules() -> None:
    assert snippets.matches("success 3", "success   3 ")
    assert snippets.matches("id ...-...", "id 01a2-bc")
    assert not snippets.matches("success 3", "success 30")
    assert snippets.missing(["a", "c"], "a\nb\nc\n") is None
    assert snippets.missing(["c", "a"], "a\nb\nc\n") == "a"  # order counts


def test_commands_join_continuations_and_strip_prompts() -> None:
    body = "# a comment\n$ echo a \\\n   b\n\necho c   # -> c\n"
    assert snippets.commands(body) == ["echo a     b", "echo c   # -> c"]


GOOD = """
```python
# app.py
VALUE = 41
```

<!-- snippet: env GREETING=hi -->

```python
from app import VALUE
print(VALUE + 1)            # -> 42
```

```sh
export PLACE="the $GREETING world" COUNT=3
echo "$PLACE, $COUNT"        # -> the hi world, 3
echo "$GREETING there"       # -> hi there
python -c "print('x' * 3)"
```

<!-- snippet: output -->
```text
xxx
```

<!-- snippet: fails -->
```sh
python -c "raise SystemExit(3)"
```

<!-- snippet: sh
echo hidden > made.txt
-->

```sh
cat made.txt                 # -> hidden
```

<!-- snippet: skip needs a host that does not exist -->
```sh
curl http://nowhere.invalid
```
"""


def test_a_true_page_passes(tmp_path: Path) -> None:
    run_page(tmp_path, GOOD)


@pytest.mark.parametrize(
    ("wrong", "right"),
    [
        ("# -> 42", "# -> 43"),  # a python claim
        ("# -> hi there", "# -> hello there"),  # a shell claim
        ("xxx\n```", "xxxx\n```"),  # an output block
        ("SystemExit(3)", "SystemExit(0)"),  # a block that should fail but exits 0
        ("VALUE = 41", "VALUE = 41 +"),  # a file that does not import
    ],
)
def test_a_wrong_claim_fails(tmp_path: Path, wrong: str, right: str) -> None:
    assert wrong in GOOD
    with pytest.raises(pytest.fail.Exception):
        run_page(tmp_path, GOOD.replace(wrong, right, 1))


def test_a_background_worker_that_dies_fails_the_page(tmp_path: Path) -> None:
    page = "```sh\npython -c 'import time; time.sleep(0.2); raise SystemExit(1)' &\n```\n"
    page += "```sh\nsleep 1\n```\n"
    with pytest.raises(pytest.fail.Exception, match="exited 1"):
        run_page(tmp_path, page)


def test_worker_commands_run_in_the_background() -> None:
    for line in (
        "qtasks -A app:app run",
        "python -m qtasks -A m:app run -c 4",
        "python manage.py qtasks_worker",
    ):
        assert snippets._WORKER.search(line), line
    for line in ("qtasks -A app:app status", "qtasks -A app:app dead list"):
        assert not snippets._WORKER.search(line), line


def test_a_trailing_ampersand_backgrounds_even_before_a_comment() -> None:
    for line in ("qtasks -A m:app dashboard &", "sleep 5 &   # a comment after it"):
        assert snippets._backgrounded(line), line
    for line in ("echo '&'", "echo a && echo b", "ls  # runs & returns"):
        assert not snippets._backgrounded(line), line
