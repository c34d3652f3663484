"""Where private files live: a local folder, or an S3-compatible bucket shared by every machine."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from touchstone.env import env_str


def private_storage(kind: str) -> dict[str, Any]:
    """The ``private`` entry of ``STORAGES`` for ``TOUCHSTONE_STORAGE`` = ``kind`` (local or s3).

    The bucket's settings are read from the ``TOUCHSTONE_S3_*`` variables; a kind other than
    these two, or s3 without a bucket, stops the process at start-up.
    """
    if kind == "local":
        return {"BACKEND": "touchstone.storage_backends.PrivateFileSystemStorage"}
    if kind == "s3":
        if not env_str("TOUCHSTONE_S3_BUCKET", ""):
            raise ImproperlyConfigured(
                "TOUCHSTONE_STORAGE=s3 needs TOUCHSTONE_S3_BUCKET, the bucket that holds private files "
                "(and TOUCHSTONE_S3_ENDPOINT_URL for storage other than Amazon S3); see the README."
            )
        return {
            "BACKEND": "touchstone.storage_backends.PrivateS3Storage",
            "OPTIONS": {
                "bucket_name": env_str("TOUCHSTONE_S3_BUCKET", ""),
                "endpoint_url": env_str("TOUCHSTONE_S3_ENDPOINT_URL", "") or None,
                "region_name": env_str("TOUCHSTONE_S3_REGION", "") or None,
                # Unset, boto3 finds credentials its usual way (AWS_* variables, an instance role).
                "access_key": env_str("TOUCHSTONE_S3_ACCESS_KEY_ID", "") or None,
                "secret_key": env_str("TOUCHSTONE_S3_SECRET_ACCESS_KEY", "") or None,
                "location": env_str("TOUCHSTONE_S3_PREFIX", ""),
            },
        }
    raise ImproperlyConfigured(f"TOUCHSTONE_STORAGE is {kind!r}; it must be local (the default) or s3.")
