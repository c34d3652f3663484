"""Touchstone settings: one file, every value from the environment.

The defaults are the embedded mode (SQLite, the filesystem Celery broker, local storage under
``var/``) so that ``make run`` works on a fresh machine. Production sets ``DATABASE_URL`` to
PostgreSQL, ``CELERY_BROKER_URL`` to Redis and ``DJANGO_SECRET_KEY``; see the README.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from touchstone.configuration.api import rest_framework, spectacular
from touchstone.configuration.queues import beat_schedule, broker_transport_options
from touchstone.configuration.storage import private_storage
from touchstone.env import (
    cache_from_url,
    check_secret_key_strength,
    database_from_url,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
    secret_key_from_file,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# One switch for a public deployment: it refuses unsafe values below and turns on HTTPS-only
# cookies, HSTS and the redirect to HTTPS unless their own variables say otherwise.
PRODUCTION = env_bool("TOUCHSTONE_PRODUCTION", False)
if "TOUCHSTONE_REQUIRE_SECRET_KEY" in os.environ:
    raise ImproperlyConfigured(
        "TOUCHSTONE_REQUIRE_SECRET_KEY was replaced by TOUCHSTONE_PRODUCTION=1, which also requires "
        "DJANGO_SECRET_KEY and turns on HTTPS-only settings (see the README): set that instead."
    )

DEBUG = env_bool("DJANGO_DEBUG", False)
DATA_DIR = Path(env_str("TOUCHSTONE_DATA_DIR", str(BASE_DIR / "var")))
DATA_DIR.mkdir(parents=True, exist_ok=True)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
# Old keys still accepted when checking signatures, so that rotating the key logs nobody out.
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS", [])
if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_DEBUG is on while TOUCHSTONE_PRODUCTION=1: debug pages show settings and code to "
            "anyone; unset DJANGO_DEBUG."
        )
    if not SECRET_KEY:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when TOUCHSTONE_PRODUCTION=1 (50 or more random characters)."
        )
    if "DJANGO_ALLOWED_HOSTS" not in os.environ:
        raise ImproperlyConfigured(
            "DJANGO_ALLOWED_HOSTS must be set when TOUCHSTONE_PRODUCTION=1: the site's host names, comma-separated."
        )
    check_secret_key_strength("DJANGO_SECRET_KEY", SECRET_KEY)
    for fallback in SECRET_KEY_FALLBACKS:
        check_secret_key_strength("Each key of DJANGO_SECRET_KEY_FALLBACKS", fallback)
elif not SECRET_KEY:
    # A local site signs sessions and messages with a key of its own, made once and kept under
    # the data folder: a key written in the source would let anyone forge them.
    SECRET_KEY = secret_key_from_file(DATA_DIR / "secret_key")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "touchstone.benchmarks",
    "touchstone.submissions",
    "touchstone.rankings",
    "touchstone.accounts",
    "touchstone.api",
    "touchstone.front",
]

MIDDLEWARE = [
    # First, so that a body announced past the cap is refused before anything reads it.
    "touchstone.uploads.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "touchstone.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# HTTPS and browser defences. Each is on by default in production and can be set on its own;
# SECURITY.md says what each one stops.
SECURE_HSTS_SECONDS = env_int("TOUCHSTONE_HSTS_SECONDS", 31536000 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("TOUCHSTONE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("TOUCHSTONE_HSTS_PRELOAD", PRODUCTION)
SECURE_SSL_REDIRECT = env_bool("TOUCHSTONE_SSL_REDIRECT", PRODUCTION)
# A load balancer's health check may reach the site over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("TOUCHSTONE_SECURE_COOKIES", PRODUCTION)
# Only trust the proxy's word that a request came over HTTPS when told to: a client could send
# the header itself to a server that is reached directly.
_PROXY_SSL_HEADER = env_str("TOUCHSTONE_PROXY_SSL_HEADER", "")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https") if _PROXY_SSL_HEADER else None
)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Scripts only from our own files; plotly.js sets inline styles on the chart it draws.
CONTENT_SECURITY_POLICY = env_str(
    "TOUCHSTONE_CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
)
CONTENT_SECURITY_POLICY_REPORT_ONLY = env_bool("TOUCHSTONE_CSP_REPORT_ONLY", False)

# Throttling counters live in this cache. The default is per process: give every web process
# the same Redis in production, or each one counts on its own.
CACHES = {
    "default": cache_from_url(env_str("TOUCHSTONE_CACHE_URL", "locmem://")),
    # Each web process's own memory, for what it serves anonymous visitors for a few seconds:
    # no round trip to Redis on the most frequent reads, and nothing to fail.
    "public": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "touchstone-public",
        "OPTIONS": {"MAX_ENTRIES": 300},
    },
}
# How long an anonymous visitor may be served a public page or board that is this old: the home,
# benchmark and leaderboard pages and the board in the API. Signed-in visitors always get the
# current one. 0 turns it off (touchstone/front/page_cache.py).
PUBLIC_CACHE_SECONDS = env_int("TOUCHSTONE_PUBLIC_CACHE_SECONDS", 5, minimum=0)
# How many reverse proxies append to X-Forwarded-For in front of the site. With 0 the client's
# address is the connection's, and a client cannot pick its own by sending the header.
TRUSTED_PROXIES = env_int("TOUCHSTONE_TRUSTED_PROXIES", 0, minimum=0)
# Failed log-ins per address and per username in 15 minutes; sign-up attempts per address per hour.
LOGIN_FAILURES_PER_15_MINUTES = env_int("TOUCHSTONE_LOGIN_FAILURES", 10, minimum=1)
SIGNUPS_PER_HOUR = env_int("TOUCHSTONE_SIGNUPS_PER_HOUR", 10, minimum=1)
# Team invitations one researcher may send per hour.
INVITATIONS_PER_HOUR = env_int("TOUCHSTONE_INVITATIONS_PER_HOUR", 20, minimum=1)

ROOT_URLCONF = "touchstone.urls"
WSGI_APPLICATION = "touchstone.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "touchstone.front.context_processors.site_status",
            ]
        },
    }
]

DATABASES = {
    "default": database_from_url(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'touchstone.sqlite3'}"), base_dir=BASE_DIR
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The worker and the web server write to the same file: wait for the lock instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "front:home"
LOGOUT_REDIRECT_URL = "front:home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
# whitenoise looks here at start-up even when serving from the finders.
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "touchstone.front.finders.PlotlyFinder",
]
# With DEBUG off and no collectstatic run, whitenoise still serves from the finders.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = DATA_DIR / "media"
# Hidden splits, model files and per-item outcomes live here; nothing under it is ever served.
PRIVATE_STORAGE_ROOT = Path(env_str("TOUCHSTONE_PRIVATE_DIR", str(DATA_DIR / "private")))
# Private storage is this folder by default; TOUCHSTONE_STORAGE=s3 puts it in an S3-compatible
# bucket shared by every machine, and each machine keeps the copies it works on (the models it
# runs, the hidden splits) in its own cache folder (touchstone/storage.py).
STORAGE_KIND = env_str("TOUCHSTONE_STORAGE", "local")
STORAGE_CACHE_DIR = Path(env_str("TOUCHSTONE_STORAGE_CACHE_DIR", str(DATA_DIR / "storage-cache")))
STORAGE_CACHE_MAX_BYTES = env_int("TOUCHSTONE_STORAGE_CACHE_MB", 10240, minimum=1) * 1024 * 1024
PRIVATE_STORAGE = private_storage(STORAGE_KIND)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    # Hidden splits, model files, per-item outcomes: never given a URL (touchstone/storage_backends.py).
    "private": PRIVATE_STORAGE,
}

MAX_UPLOAD_BYTES = env_int("TOUCHSTONE_MAX_UPLOAD_MB", 100, minimum=1) * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Uploaded files larger than the memory size are streamed here, and a file that grows past its
# cap is refused and removed as it arrives (touchstone/uploads.py); the janitor removes what a
# killed web process left behind.
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "upload-tmp")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(exist_ok=True)
FILE_UPLOAD_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "touchstone.uploads.CappedTemporaryFileUploadHandler",
]
# Model folders without a submission and temporary upload files are removed once this old.
ORPHAN_UPLOAD_SECONDS = env_float("TOUCHSTONE_ORPHAN_UPLOAD_SECONDS", 3600.0, minimum=60.0)
# Mail (email confirmation, password reset, finished evaluations): printed to the console
# unless EMAIL_HOST names an SMTP server.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = 30
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "touchstone@localhost")
# The site's address as researchers reach it, for links in emails sent by the workers (which
# answer no request to take it from), e.g. https://touchstone.example.org.
SITE_URL = env_str("TOUCHSTONE_SITE_URL", "")
SUBMISSIONS_PER_DAY = env_int("TOUCHSTONE_SUBMISSIONS_PER_DAY", 5, minimum=1)
# A file identical (same SHA-256) to one the team already submitted to the version is refused
# with a pointer to the earlier submission: it would score the same and use up the quota.
REFUSE_IDENTICAL_UPLOADS = env_bool("TOUCHSTONE_REFUSE_IDENTICAL_UPLOADS", True)
# The fewest items a new version's dev split, feedback part and final part may each hold; every
# shipped benchmark meets it (its smallest part is digits' feedback part, 323 items).
MIN_PART_ITEMS = env_int("TOUCHSTONE_MIN_PART_ITEMS", 100, minimum=1)
# The largest benchmark folder archive a maintainer may upload as a draft, unpacked.
MAX_DRAFT_BYTES = env_int("TOUCHSTONE_MAX_DRAFT_MB", 500, minimum=1) * 1024 * 1024
BOOTSTRAP_RESAMPLES = env_int("TOUCHSTONE_BOOTSTRAP_RESAMPLES", 2000, minimum=100)

# The sandbox: see SECURITY.md for what each limit stops.
ALLOW_UNSANDBOXED_MODELS = env_bool("TOUCHSTONE_ALLOW_UNSANDBOXED_MODELS", False)
SANDBOX_MEMORY_BYTES = env_int("TOUCHSTONE_SANDBOX_MEMORY_MB", 3072, minimum=1024) * 1024 * 1024
SANDBOX_WALL_SECONDS = env_float("TOUCHSTONE_SANDBOX_WALL_SECONDS", 600.0, minimum=1.0)
SANDBOX_CPU_SECONDS = env_int("TOUCHSTONE_SANDBOX_CPU_SECONDS", 1200, minimum=1)
SANDBOX_FILE_BYTES = env_int("TOUCHSTONE_SANDBOX_FILE_MB", 256, minimum=1) * 1024 * 1024
EVALUATION_BATCH_SIZE = env_int("TOUCHSTONE_EVALUATION_BATCH_SIZE", 256, minimum=1)
# Every evaluation runs the version's robustness suite (its stored corrupted copies, attacks and
# saliency) after the clean pass; off, runs are scored clean only and show no robustness breakdowns.
EVALUATION_SUITE = env_bool("TOUCHSTONE_EVALUATION_SUITE", True)

# Authentication, permissions, throttle rates (TOUCHSTONE_THROTTLE_*) and the OpenAPI schema
# (touchstone/configuration/api.py).
REST_FRAMEWORK = rest_framework(trusted_proxies=TRUSTED_PROXIES)
SPECTACULAR_SETTINGS = spectacular()

# Celery. The embedded default is a folder of message files (touchstone/broker.py: kombu's
# filesystem transport with messages written atomically), polled every 50 ms; with Redis, a
# message not acknowledged within three wall limits is delivered again
# (touchstone/configuration/queues.py).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost/")
BROKER_DIR = Path(env_str("TOUCHSTONE_BROKER_DIR", str(DATA_DIR / "broker")))
if CELERY_BROKER_URL.startswith("filesystem"):
    CELERY_BROKER_TRANSPORT = "touchstone.broker:Transport"
CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(
    CELERY_BROKER_URL, BROKER_DIR, visibility_timeout=int(SANDBOX_WALL_SECONDS) * 3
)
CELERY_TASK_IGNORE_RESULT = True
# An upload is accepted even when the broker is down (its message is sent later), so a web
# request gives up on the broker within a few seconds instead of Celery's longer defaults.
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("TOUCHSTONE_BROKER_CONNECT_SECONDS", 3.0, minimum=0.1)
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Workers run below the web server's priority (0 to 19; touchstone/celery.py), so that pages stay
# quick on a machine that also scores; the sandboxed models run lower still.
WORKER_NICENESS = env_int("TOUCHSTONE_WORKER_NICENESS", 5, minimum=0, maximum=19)
# With Redis, priority 0 is served first: a run taken over from a lost worker is published with 0
# (touchstone.tasks.RECOVERY_PRIORITY), everything else with 6, so a recovered submission does not
# wait behind the whole queue again.
CELERY_TASK_DEFAULT_PRIORITY = 6
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "touchstone.tasks.evaluate_submission": {"queue": "evaluation"},
    "touchstone.tasks.check_pinned_baseline": {"queue": "evaluation"},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# The sweep publishes again the message of a submission queued this long ago (it may have
# been lost); a message that was not lost meets a row another message already claimed.
REQUEUE_QUEUED_SECONDS = env_float("TOUCHSTONE_REQUEUE_QUEUED_SECONDS", 600.0, minimum=1.0)
# A running evaluation writes a heartbeat this often (database clock); one silent for
# HEARTBEAT_STALE_SECONDS lost its worker and is taken over. Every worker's watchdog looks for
# such runs (and for lost messages and stale boards) every WATCHDOG_SECONDS, beat or no beat;
# 0 turns the watchdog off (touchstone/submissions/runs.py).
HEARTBEAT_SECONDS = env_float("TOUCHSTONE_HEARTBEAT_SECONDS", 5.0, minimum=0.5)
HEARTBEAT_STALE_SECONDS = env_float("TOUCHSTONE_HEARTBEAT_STALE_SECONDS", 30.0, minimum=2.0)
WATCHDOG_SECONDS = env_float("TOUCHSTONE_WATCHDOG_SECONDS", 10.0, minimum=0.0)
# A submission whose runs were lost this many times (its worker killed, out of memory, restarted)
# is not started again: it ends failed with error_code evaluation_lost, so a model that makes
# its worker fail cannot occupy the workers forever (touchstone/submissions/runs.py).
MAX_LOST_RUNS = env_int("TOUCHSTONE_MAX_LOST_RUNS", 5, minimum=1)
# Celery's hard time limit of one evaluation task: the pool process is killed past it (a run
# hung outside the sandbox's own wall limit, its heartbeat still beating) and the watchdog takes
# the run over at once. The sandbox session has SANDBOX_WALL_SECONDS; the rest covers fetching,
# statistics and recording.
EVALUATION_TIME_LIMIT_SECONDS = env_float(
    "TOUCHSTONE_EVALUATION_TIME_LIMIT_SECONDS", 2 * SANDBOX_WALL_SECONDS + 600.0, minimum=SANDBOX_WALL_SECONDS + 60.0
)
# Re-evaluations and pinned baselines handed to the workers at once; they start only while no
# upload is queued (touchstone/submissions/queueing.py).
BACKGROUND_CONCURRENCY = env_int("TOUCHSTONE_BACKGROUND_CONCURRENCY", 1, minimum=1)
# An upload whose message did not reach the broker (it was down) is sent by a pass this often;
# rows younger than the grace are left to the request that is sending them.
PUBLISH_UNSENT_SECONDS = env_float("TOUCHSTONE_PUBLISH_SECONDS", 30.0, minimum=1.0)
UNSENT_GRACE_SECONDS = env_float("TOUCHSTONE_UNSENT_GRACE_SECONDS", 10.0, minimum=0.0)
# The periodic tasks and how often beat sends each (TOUCHSTONE_SWEEP_SECONDS and others).
CELERY_BEAT_SCHEDULE = beat_schedule(publish_unsent_seconds=PUBLISH_UNSENT_SECONDS)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("TOUCHSTONE_LOG_LEVEL", "INFO")},
}
