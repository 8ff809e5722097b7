"""Tiny Django applications whose ``tasks``/``jobs`` modules declare tasks."""
