"""Exists, and raises while it is imported."""

raise RuntimeError("djdisc: gamma.broken_runtime failed at import")
