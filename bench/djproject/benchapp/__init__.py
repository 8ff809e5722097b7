"""The benchmark's one Django application: a no-op task in ``tasks.py``."""
