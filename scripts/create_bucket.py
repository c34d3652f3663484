"""Create the bucket of private storage if it does not exist yet (an S3 emulator, a new account).

Usage: python scripts/create_bucket.py
It reads the same settings as the site (``TOUCHSTONE_STORAGE=s3``, ``TOUCHSTONE_S3_BUCKET``,
...). With local private storage it does nothing. Run again, it does nothing. The bucket is
made private; a bucket that already exists is left as it is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "touchstone.settings")
    import django

    django.setup()
    from botocore.exceptions import ClientError

    from touchstone.storage import is_remote, private_storage

    if not is_remote():
        print("private storage is a local folder (TOUCHSTONE_STORAGE=local); there is no bucket to create")
        return 0
    storage = private_storage()
    bucket = storage.bucket  # type: ignore[attr-defined]
    client = storage.connection.meta.client  # type: ignore[attr-defined]
    try:
        client.head_bucket(Bucket=bucket.name)
    except ClientError:
        region = client.meta.region_name
        options = {} if region in {None, "us-east-1"} else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        bucket.create(ACL="private", **options)
        print(f"created the private bucket {bucket.name}")
        return 0
    print(f"the bucket {bucket.name} exists already")
    return 0


if __name__ == "__main__":
    sys.exit(main())
