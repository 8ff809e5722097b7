#!/usr/bin/env bash
# Set up .venv if needed (qtasks alone: a few seconds), then enqueue a few hundred tasks and
# watch a worker drain them.
DEMO=1 source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec .venv/bin/python examples/demo.py
