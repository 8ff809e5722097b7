"""Minimal Django settings for the autodiscovery tests.

``conftest.py`` configures Django from the UPPER_CASE names of this module with
``settings.configure()`` (no ``DJANGO_SETTINGS_MODULE`` in the test process, so the
rest of the suite is unaffected); subprocess tests use it as ``DJANGO_SETTINGS_MODULE``.
"""

SECRET_KEY = "qtasks-django-discovery-tests"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    # The real local PostgreSQL, for the queue kept in Django's own database (django://);
    # pytest-django makes its test database (test_test) when a test asks for it.
    "queue": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "test",  # exists on the CI machine; tests get test_test
        "USER": "postgres",
        # trust auth ignores it; test_secrets sets one to check no command prints it
        "PASSWORD": __import__("os").environ.get("QTASKS_DJANGO_TEST_DB_PASSWORD", ""),
        "HOST": "127.0.0.1",
        "PORT": "5432",
        "TEST": {"DEPENDENCIES": []},  # tests that use it need no other database
    },
}
INSTALLED_APPS = [
    "django.contrib.contenttypes",  # a real application without a tasks module
    # Django's admin with qtasks' pages (test_admin.py), and what the admin needs
    "qtasks.contrib.django.admin.QTasksAdminConfig",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "tests.django_project.djapps.alpha",
    "tests.django_project.djapps.beta.apps.BetaConfig",  # listed by its AppConfig
    "tests.django_project.djapps.gamma",
    # djapps.outsider is deliberately NOT installed: its tasks must never be discovered.
]

ROOT_URLCONF = "tests.django_project.urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]  # runserver (test_commands.py)
STATIC_URL = "/static/"
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# --- the QTasksBackend tests (test_backend.py) -------------------------------------------
# The test process and its `manage.py qtasks_worker` processes share one broker, named in
# the environment by conftest.py before Django is configured.
import os  # noqa: E402
import tempfile  # noqa: E402

_BROKER = os.environ.setdefault(
    "QTASKS_DJANGO_TEST_BROKER",
    f"sqlite:///{tempfile.mkdtemp(prefix='qtasks-django-')}/broker.sqlite3",
)
_LEASE = float(os.environ.get("QTASKS_DJANGO_TEST_LEASE", "10"))

try:
    import django.tasks  # noqa: F401  (Django 6.x)
except ImportError:  # Django 5.2: the backport must be installed as an application
    INSTALLED_APPS.append("django_tasks")
INSTALLED_APPS += [
    "qtasks.contrib.django",
    "tests.django_project.djapps.shop.apps.ShopConfig",
]
_BACKEND = "qtasks.contrib.django.backend.QTasksBackend"
TASKS = {
    "default": {
        "BACKEND": _BACKEND,
        "QUEUES": ["default", "emails"],
        "OPTIONS": {"broker_url": _BROKER, "lease_seconds": _LEASE},
    },
    "indb": {
        "BACKEND": _BACKEND,
        "QUEUES": ["default"],
        "OPTIONS": {"broker_url": "django://queue?schema=djqueue", "enqueue_on_commit": False},
    },
    "retrying": {
        "BACKEND": _BACKEND,
        "QUEUES": ["default"],
        "OPTIONS": {
            "broker_url": _BROKER,
            "retry": 2,
            "retry_on": ["tests.django_project.djapps.shop.tasks.Flaky"],
            "retry_backoff": 0.01,
            "max_time": 1.0,
            "lease_seconds": _LEASE,
        },
    },
}

# --- unique tasks and schedules (test_unique_and_schedules.py) ---------------------------
# Its tests use this alias in the test process through override_settings (so the other
# tests see only the aliases above), and its `qtasks_worker --schedule` processes find it
# here when QTASKS_DJANGO_TEST_SCHEDULE names the file the "beat" schedule writes to.
_SHOP = "tests.django_project.djapps.shop.tasks"


def scheduled_backend(out: str, every: float = 1.0) -> dict[str, object]:
    return {
        "BACKEND": _BACKEND,
        "QUEUES": ["default", "emails"],
        "OPTIONS": {
            "broker_url": _BROKER,
            "lease_seconds": _LEASE,
            "unique": {f"{_SHOP}.add": 0, f"{_SHOP}.send_mail": 2},
            "schedule": {
                "beat": {"task": f"{_SHOP}.record_order", "every": every, "args": [out, "tick"]},
                "nightly": {
                    "task": f"{_SHOP}.add",
                    "cron": "0 3 * * *",
                    "tz": "Europe/Paris",
                    "args": [1, 2],
                    "catch_up": "none",
                },
            },
        },
    }


if os.environ.get("QTASKS_DJANGO_TEST_SCHEDULE"):
    TASKS["scheduled"] = scheduled_backend(os.environ["QTASKS_DJANGO_TEST_SCHEDULE"])
