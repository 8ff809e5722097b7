"""The Django project that ``bench/bench_django.py`` measures (``djproject.settings``)."""
