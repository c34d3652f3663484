"""Touchstone: the Django site (settings, URLs, the Celery app and the apps)."""

from touchstone.celery import app as celery_app

__all__ = ["celery_app"]
