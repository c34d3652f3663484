"""Typed readers for settings that come from the environment.

Each helper fails loudly, naming the variable, when a value cannot be parsed: a typo in a
deployment's environment should stop the process at start-up, not surface as odd behaviour.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

from evaluation.private_files import create_once

# The rates Django REST framework understands: it reads only the first letter of the period.
RATE = re.compile(r"[0-9]+/(s|sec|second|m|min|minute|h|hour|d|day)")

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {value}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}; got {value}")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number; got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


def database_from_url(url: str, *, base_dir: Path) -> dict:
    """Turn ``sqlite:///path`` or ``postgres://user:pass@host:port/name`` into Django's form.

    A relative SQLite path is taken relative to ``base_dir``. Query parameters of a PostgreSQL
    URL become connection options (for example ``?sslmode=require``).
    """
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # "sqlite:///var/db.sqlite3" is relative to base_dir; "sqlite:////tmp/db" is absolute.
        path = Path(unquote(parts.path)[1:])
        if not path.is_absolute():
            path = base_dir / path
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}
    if parts.scheme in {"postgres", "postgresql"}:
        if not parts.path.strip("/"):
            raise ImproperlyConfigured(f"DATABASE_URL names no database: {url!r}")
        options = dict(parse_qsl(parts.query))
        host = unquote(parts.hostname or "")
        # A socket directory may be given as ?host=/path when the URL has no host part.
        host = options.pop("host", host)
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.strip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": host,
            "PORT": str(parts.port or ""),
            "OPTIONS": options,
            "CONN_MAX_AGE": 60,
        }
    raise ImproperlyConfigured(f"DATABASE_URL must start with sqlite:// or postgres://; got {url!r}")


def secret_key_from_file(path: Path) -> str:
    """Read the site's signing key from ``path``, creating it once with a random value.

    The key is written to a private temporary file first and then hard-linked into place, so a
    process that starts at the same moment (the web server and the worker under ``make run``)
    either wins the race or reads the winner's complete key; it never sees half a file. The
    file is readable by its owner only.
    """
    create_once(path, secrets.token_urlsafe(50) + "\n")
    key = path.read_text(encoding="ascii").strip()
    if len(key) < SECRET_KEY_MIN_LENGTH:
        raise ImproperlyConfigured(
            f"The secret key in {path} is empty or shorter than {SECRET_KEY_MIN_LENGTH} characters; "
            "delete the file to have a new one generated (everyone will be logged out)."
        )
    return key


def check_secret_key_strength(name: str, key: str) -> None:
    """Refuse a signing key that Django's own deployment check would call weak."""
    if (
        len(key) < SECRET_KEY_MIN_LENGTH
        or len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
        or key.startswith(SECRET_KEY_INSECURE_PREFIX)
    ):
        raise ImproperlyConfigured(
            f"{name} is too weak: use at least {SECRET_KEY_MIN_LENGTH} random characters, not prefixed with "
            f'{SECRET_KEY_INSECURE_PREFIX!r}; for example python -c "import secrets; '
            'print(secrets.token_urlsafe(50))"'
        )


def cache_from_url(url: str) -> dict:
    """Turn ``locmem://`` or ``redis://host:port/db`` (``rediss://`` for TLS) into Django's form."""
    scheme = urlsplit(url).scheme
    if scheme == "locmem":
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "touchstone"}
    if scheme in {"redis", "rediss"}:
        return {"BACKEND": "touchstone.redis_cache.ReusingRedisCache", "LOCATION": url}
    raise ImproperlyConfigured(f"TOUCHSTONE_CACHE_URL must start with locmem:// or redis://; got {url!r}")


def env_rate(name: str, default: str) -> str:
    """A request rate such as ``300/minute``: a count, a slash, and second, minute, hour or day."""
    raw = os.environ.get(name, default).strip()
    if not RATE.fullmatch(raw):
        raise ImproperlyConfigured(
            f"{name} must be a count per second, minute, hour or day, such as 300/minute; got {raw!r}"
        )
    return raw
