"""A local S3 emulator for the storage tests: moto's server on a free loopback port, never a real cloud."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from tests.services import free_port

ACCESS_KEY = "touchstone-test"
SECRET_KEY = "touchstone-test-secret"
REGION = "us-east-1"


@contextmanager
def s3_emulator() -> Iterator[str]:
    """Start moto's S3 server on 127.0.0.1; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


def new_bucket(endpoint: str) -> str:
    """Create an empty bucket with a fresh name; returns the name."""
    name = f"touchstone-{secrets.token_hex(6)}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


def storage_environment(endpoint: str, bucket: str) -> dict[str, str]:
    """The variables that put a site's private storage in ``bucket`` (as the README documents them)."""
    return {
        "TOUCHSTONE_STORAGE": "s3",
        "TOUCHSTONE_S3_ENDPOINT_URL": endpoint,
        "TOUCHSTONE_S3_BUCKET": bucket,
        "TOUCHSTONE_S3_REGION": REGION,
        "TOUCHSTONE_S3_ACCESS_KEY_ID": ACCESS_KEY,
        "TOUCHSTONE_S3_SECRET_ACCESS_KEY": SECRET_KEY,
    }


def private_storage_setting(endpoint: str, bucket: str) -> dict:
    """``settings.STORAGES["private"]`` for ``bucket``, as ``storage_environment`` makes the settings build it."""
    return {
        "BACKEND": "touchstone.storage_backends.PrivateS3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint,
            "region_name": REGION,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "location": "",
        },
    }


def use_new_bucket(settings, endpoint: str, cache_dir) -> str:
    """Put the private storage of the test's settings in a fresh bucket, with this machine's cache
    in ``cache_dir``, as a site of several machines has it; returns the bucket's name."""
    name = new_bucket(endpoint)
    settings.STORAGES = {**settings.STORAGES, "private": private_storage_setting(endpoint, name)}
    settings.STORAGE_CACHE_DIR = cache_dir
    return name
