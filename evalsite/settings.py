"""evalsite settings: the one place that reads the environment.

With no environment at all evalsite runs on one machine: SQLite and media under
``var/``, an embedded Celery broker (kombu's file-system transport) served by a
real worker process, e-mail printed to the console. Setting ``DATABASE_URL`` and
``CELERY_BROKER_URL`` moves it to PostgreSQL and Redis. ``EVALSITE_MODE=production``
refuses to start without ``SECRET_KEY``, ``ALLOWED_HOSTS`` and a real database.
Every variable is documented in ``deploy/env.example``.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env_file = env.path("EVALSITE_ENV_FILE", default="")
if str(env_file) and Path(env_file).is_file():
    environ.Env.read_env(env_file)

MODE = env.str("EVALSITE_MODE", default="dev")
if MODE not in {"dev", "production"}:
    raise ImproperlyConfigured(f"EVALSITE_MODE must be 'dev' or 'production', not {MODE!r}.")
PRODUCTION = MODE == "production"

VAR_DIR = Path(env.str("EVALSITE_VAR_DIR", default=str(BASE_DIR / "var")))


def _require(name: str, why: str) -> None:
    if not env.str(name, default=""):
        raise ImproperlyConfigured(
            f"{name} is not set. Production mode (EVALSITE_MODE=production) needs {why}. "
            f"See deploy/env.example."
        )


if PRODUCTION:
    _require("SECRET_KEY", "a long random SECRET_KEY")
    _require("ALLOWED_HOSTS", "ALLOWED_HOSTS, the host names the site is served under")
    _require("DATABASE_URL", "DATABASE_URL pointing at PostgreSQL")


def _dev_secret_key() -> str:
    """A per-checkout key kept in var/, so sessions survive restarts of the demo."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _dev_secret_key()
DEBUG = env.bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "django_celery_results",
    "apps.core",
    "apps.accounts",
    "apps.studies",
    "apps.registry",
    "apps.generation",
    "apps.blinding",
    "apps.scoring",
    "apps.analysis",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.core.middleware.PreferredLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "evalsite.urls"
WSGI_APPLICATION = "evalsite.wsgi.application"
ASGI_APPLICATION = "evalsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'evalsite.sqlite3'}"),
}
if PRODUCTION and DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        "DATABASE_URL must point at PostgreSQL in production mode (postgres://…); "
        "SQLite is for the one-machine demo only."
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write at the same time: WAL lets readers go on
    # while one writer works, IMMEDIATE takes the write lock at BEGIN so that two
    # writers queue (up to `timeout` seconds) instead of failing with "locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Per process. "fragments" keeps parts of pages that are the same for many
# requests (the rating page's rubric), keyed by a hash of what they show.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "fragments": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "fragments",
        "TIMEOUT": None,
        "OPTIONS": {"MAX_ENTRIES": 2000},
    },
}

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"

# --- language and time ------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- static and media: every asset is served by the site itself ----------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise looks there at start
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Behind nginx: Django checks permissions and answers with X-Accel-Redirect to this
# internal location, which serves MEDIA_ROOT (deploy/nginx/evalsite.conf).
MEDIA_X_ACCEL_PREFIX = env.str("MEDIA_X_ACCEL_PREFIX", default="")
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- e-mail -------------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if env.str("EMAIL_URL", default="")
    else "django.core.mail.backends.console.EmailBackend",
)
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="evalsite <noreply@localhost>")

# --- Celery -------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost//")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # One folder for both directions: web, commands and worker on one machine
    # share the queue; control_folder carries broadcasts (ping, inspect).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        "polling_interval": 0.2,  # seconds between looks at the folder; latency vs idle CPU
    }
    for folder in ("queue", "control", "processed"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Tasks are acknowledged late; a task unacknowledged for this long is handed
    # to another worker, so it must exceed the longest task.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="django-db")
CELERY_RESULT_EXTENDED = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
# A worker killed mid-task must not lose the task: acknowledge after it ran,
# and put it back when the worker process dies. Tasks are written to be rerun.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers keep Django's LOGGING (one line per event to stderr, secrets redacted)
# instead of Celery's own, unfiltered handlers; --loglevel still sets the level.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# celery beat (exactly one per site) queues generation.recover every
# GENERATION_RECOVER_EVERY_S seconds: it queues again the generations whose task was
# lost (a Redis restarted empty) — running under an expired lease, or pending, due and
# untouched for GENERATION_RECOVER_AFTER_S, longer than any wait for a slot (5 min).
GENERATION_RECOVER_EVERY_S = env.float("GENERATION_RECOVER_EVERY_S", default=60.0)
GENERATION_RECOVER_AFTER_S = env.float("GENERATION_RECOVER_AFTER_S", default=600.0)
CELERY_BEAT_SCHEDULE = {
    "generation-recover": {
        "task": "generation.recover",
        "schedule": GENERATION_RECOVER_EVERY_S,
        "options": {"expires": GENERATION_RECOVER_EVERY_S},  # no pile-up without workers
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- collection of generations ----------------------------------------------
# How long a worker's claim on a running generation lasts; a thread renews it while
# the task runs, so a generation whose worker died is claimed again within one lease.
GENERATION_LEASE_S = env.float("GENERATION_LEASE_S", default=60.0)
# Transient errors (timeouts, 5xx, 429) retried per generation before it fails.
GENERATION_MAX_RETRIES = env.int("GENERATION_MAX_RETRIES", default=6)
GENERATION_LIMITS_PREFIX = "evalsite:limits"  # Redis key prefix of the shared limits

# --- REST API -----------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "evalsite API",
    "DESCRIPTION": "Reports and downloads of blind expert evaluations.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- security -----------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # health checks talk to gunicorn directly
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # Preloading HSTS commits the whole domain (often a university's) to HTTPS for
    # years; that is the institute's decision, so it is off and its warning silenced.
    SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# --- logging: one line per event, to stderr (systemd/compose collect it) -------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # httpx logs every request line with its full URL at INFO; some providers put
        # keys in query strings, so only warnings and errors reach the logs
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# Login throttling, the content-security policy, secrets kept out of logs (reads the above).
from evalsite.security import *  # noqa: E402, F403
