# Sourced by the other scripts: make .venv (Python 3.11, Django 5.2 with the django-tasks
# backport) with qtasks and its dev tools. Set DJANGO6=1 for .venv-dj6 (Python 3.12,
# Django 6.1, whose django.tasks is built in).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "${DJANGO6:-0}" = 1 ]; then
    VENV=.venv-dj6
    PYTHON="${PYTHON312:-/root/.pyenv/versions/3.12.1/bin/python}"
    command -v "$PYTHON" >/dev/null || PYTHON=python3.12
    DJANGO_PIN="django>=6.1,<6.2"
else
    VENV=.venv
    PYTHON="${PYTHON:-python3.11}"
    command -v "$PYTHON" >/dev/null || PYTHON=python3
    DJANGO_PIN="django>=5.2,<5.3"
fi
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import qtasks, pytest, mypy, django, pytest_django, psycopg, psycopg_pool, trustme, pydantic" 2>/dev/null; then
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet -e ".[dev,django]" "$DJANGO_PIN"
fi
