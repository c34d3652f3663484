"""The two backends of the ``private`` storage (``settings.STORAGES["private"]``).

Both refuse to give a file a URL: hidden splits, model files and per-item outcomes are read by
the site's own code and never handed to a browser or a client as a link.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from storages.backends.s3 import S3Storage
from storages.utils import clean_name


class PrivateFilesHaveNoURL(Exception):
    """Raised when code asks a private file for a URL, which would make it readable by anyone holding it."""


def _refuse_url(name: str) -> str:
    raise PrivateFilesHaveNoURL(
        f"{name!r} is in private storage, which gives no file a URL; serve it through a view that checks permissions"
    )


class PrivateFileSystemStorage(FileSystemStorage):
    """Local private storage rooted at ``settings.PRIVATE_STORAGE_ROOT``, read each time it is used.

    The root is looked up on every call rather than fixed when the storage is made, so a test (or
    a management command) that points ``PRIVATE_STORAGE_ROOT`` elsewhere is obeyed at once.
    """

    @property
    def base_location(self) -> str:
        return str(Path(settings.PRIVATE_STORAGE_ROOT))

    @property
    def location(self) -> str:
        return str(Path(settings.PRIVATE_STORAGE_ROOT).resolve())

    def url(self, name: str | None) -> str:
        return _refuse_url(str(name))


class PrivateS3Storage(S3Storage):
    """S3-compatible object storage for private files: private ACL, never overwritten by a renamed
    copy, and no URL (not even a signed one)."""

    def get_default_settings(self) -> dict:
        defaults = super().get_default_settings()
        # Objects are private to the bucket's owner; an existing key is replaced in one PUT (the
        # object appears whole or not at all); and no signed link is ever made.
        defaults.update({"default_acl": "private", "file_overwrite": True, "querystring_auth": True})
        return defaults

    def url(self, name: str, parameters=None, expire=None, http_method=None) -> str:
        return _refuse_url(name)

    def modified_times(self, folder: str) -> dict[str, float]:
        """Every object under ``folder``, subfolders included, with the time it was last written.

        Names are relative to the storage (as ``save`` and ``open`` take them); times are in
        seconds since the epoch, by the bucket's clock. One listing, however deep the folder.
        """
        prefix = self._normalize_name(clean_name(folder)).rstrip("/") + "/"
        root = self._normalize_name("")
        found: dict[str, float] = {}
        pages = self.connection.meta.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket_name, Prefix=prefix
        )
        for page in pages:
            for entry in page.get("Contents", ()):
                name = posixpath.relpath(entry["Key"], root) if root else entry["Key"]
                found[name] = entry["LastModified"].timestamp()
        return found
