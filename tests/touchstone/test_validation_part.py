"""The validation part of a version's dev split, as the site states it."""

from __future__ import annotations

from django.test import Client


def test_the_api_states_the_validation_fraction_of_a_version(version):
    detail = Client().get(f"/api/v1/benchmarks/{version.benchmark.slug}/versions/{version.version}/").json()
    assert detail["validation_fraction"] == 0.2
    assert "dev" not in detail["spec"]


def test_the_datasheet_says_which_share_of_the_dev_split_is_held_out(version):
    page = Client().get(version.get_absolute_url()).content.decode()
    sheet = page[page.index('id="datasheet-splits"') :]
    assert "about 20% form its validation part" in " ".join(sheet.split())
