#!/usr/bin/env bash
# Set up .venv if needed, then run the whole suite: lint, strict typing, every test.
# Transports run against real local servers; a missing server fails the run, never skips it.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
echo "== ruff"; .venv/bin/ruff check src/ tests/
echo "== mypy --strict"; .venv/bin/mypy
echo "== pytest"; exec .venv/bin/python -m pytest "$@"
