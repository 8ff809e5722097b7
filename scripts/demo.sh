#!/usr/bin/env bash
# Set up .venv if needed, then enqueue a few hundred tasks and watch a worker drain them.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec .venv/bin/python examples/demo.py
