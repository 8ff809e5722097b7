#!/usr/bin/env python
"""``manage.py`` of the side-by-side Django project. ``DJANGO_SETTINGS_MODULE`` picks the
backend: ``benchsite.settings_qtasks``, ``…_threadmill``, ``…_rq`` or ``…_db``."""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings_qtasks")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
