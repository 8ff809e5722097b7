#!/usr/bin/env bash
# Set up the venvs if needed, then run the whole suite: lint, strict typing, every test —
# on Python 3.11 with Django 5.2 + the django-tasks backport, then the Django tests again on
# Python 3.12 with Django 6.1. Transports run against real local servers; a missing server
# fails the run, never skips it. Extra arguments go to the first pytest run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The Django backend tests again with Redis as the broker (database 14, emptied first).
django_on_redis() {
    local url=redis://127.0.0.1:6379/14
    echo "== pytest: Django backend on Redis ($1)"
    "$1/bin/python" -c "import redis; redis.Redis.from_url('$url').flushdb()"
    QTASKS_DJANGO_TEST_BROKER=$url "$1/bin/python" -m pytest -p no:cacheprovider \
        tests/django_project/test_backend.py
}
# The dashboard's browser tests drive Debian's Chromium (never a browser download).
if ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "== apt-get install chromium (for the dashboard's browser tests; first run only)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "the dashboard's browser tests need Chromium at /usr/bin/chromium: sudo apt-get install chromium" >&2
        exit 1
    fi
fi
(
    source scripts/env.sh
    echo "== ruff"; .venv/bin/ruff check src/ tests/
    echo "== mypy --strict"; .venv/bin/mypy
    echo "== pytest (Python 3.11, Django 5.2 + django-tasks backport)"
    .venv/bin/python -m pytest "$@"
    django_on_redis .venv
)
(
    DJANGO6=1 source scripts/env.sh
    echo "== pytest (Python 3.12, Django 6.1): the Django tests and the core again"
    .venv-dj6/bin/python -m pytest -p no:cacheprovider tests/django_project tests/unit tests/conformance
    django_on_redis .venv-dj6
)
