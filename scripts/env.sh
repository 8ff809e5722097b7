# Sourced by the other scripts: make .venv (Python 3.11) and install into it only what is
# missing, saying so in one line. DEMO=1: qtasks itself (editable) and its dependencies,
# which is all the demo runs: a few seconds. Otherwise also the dev tools and Django 5.2 with
# the django-tasks backport, for scripts/test.sh, added to a .venv the demo made first.
# DJANGO6=1: .venv-dj6 (Python 3.12, Django 6.1, whose django.tasks is built in).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "${DJANGO6:-0}" = 1 ]; then
    VENV=.venv-dj6
    PYTHON="${PYTHON312:-/root/.pyenv/versions/3.12.1/bin/python}"
    command -v "$PYTHON" >/dev/null || PYTHON=python3.12
    WANT=(-e ".[dev,django]" "django>=6.1,<6.2")
else
    VENV=.venv
    PYTHON="${PYTHON:-python3.11}"
    command -v "$PYTHON" >/dev/null || PYTHON=python3
    WANT=(-e ".[dev,django]" "django>=5.2,<5.3")
fi
if [ "${DEMO:-0}" = 1 ]; then
    WANT=(-e .)
    WHAT="qtasks"
else
    WHAT="qtasks, its dev tools and Django"
fi

# Print the requirements of WANT that $VENV lacks (or holds at a version they exclude), on
# one line; nothing when all are there. qtasks must be this checkout's, not the QTasks
# project of the same import name.
missing() {
    "$VENV/bin/python" - "${WANT[@]}" <<'EOF'
import importlib.util
import sys
import tomllib
from importlib import metadata
from pathlib import Path

try:
    from pip._vendor.packaging.requirements import Requirement
except ImportError:  # a pip without it: let pip itself decide
    sys.exit(print("(pip's packaging module)"))
project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
wanted = list(project["dependencies"])
for arg in sys.argv[1:]:
    if arg.startswith(".["):
        for extra in arg[2:-1].split(","):
            wanted += project["optional-dependencies"][extra]
    elif arg not in ("-e", "."):
        wanted.append(arg)
lacking = []
spec = importlib.util.find_spec("qtasks")
if spec is None or not str(spec.origin).startswith(str(Path("src").resolve())):
    lacking.append("qtasks (this checkout, editable)")
for line in wanted:
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate():
        continue
    try:
        version = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        version = None
    if version is None or not req.specifier.contains(version, prereleases=True):
        lacking.append(req.name)
print(", ".join(dict.fromkeys(lacking)))
EOF
}

if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "qtasks needs Python 3.11 or newer: set PYTHON=/path/to/python3.11" >&2
        exit 1
    fi
    VERSION=$("$PYTHON" -c 'import platform; print(platform.python_version())')
    echo "setting up $VENV (Python $VERSION) with $WHAT — first run only"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "${WANT[@]}"
else
    LACKING=$(missing 2>/dev/null || echo "(the check failed)")
    if [ -n "$LACKING" ]; then
        echo "installing into $VENV what it lacks: $LACKING"
        "$VENV/bin/pip" install --quiet "${WANT[@]}"
    fi
fi
