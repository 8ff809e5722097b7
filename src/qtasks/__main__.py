"""``python -m qtasks -A module:app run``."""

from qtasks.cli import main

main(prog_name="qtasks")
