"""The feedback/final division of the hidden split, and the seeds it is built on."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from evaluation.seeds import derive_seed
from evaluation.statistics import feedback_mask

ITEM_IDS = np.array([f"item-{k:05d}" for k in range(1000)])


def test_it_derives_the_seed_from_the_sha256_of_the_joined_parts():
    digest = hashlib.sha256(b"abc123\x1fitem-bootstrap").digest()
    expected = int.from_bytes(digest[:8], "big") & (2**63 - 1)
    assert derive_seed("abc123", "item-bootstrap") == expected


def test_it_keeps_seeds_of_differently_split_parts_apart():
    assert derive_seed("ab", "c") != derive_seed("a", "bc")
    assert all(0 <= derive_seed("version", str(k)) < 2**63 for k in range(200))


def test_it_puts_the_requested_share_in_the_feedback_part():
    assert feedback_mask(ITEM_IDS, 0.3, seed=1).sum() == 300
    assert feedback_mask(ITEM_IDS[:7], 0.3, seed=1).sum() == 2
    assert feedback_mask(ITEM_IDS, 0.0, seed=1).sum() == 0
    assert feedback_mask(ITEM_IDS, 1.0, seed=1).all()


def test_it_does_not_depend_on_the_order_of_the_items():
    order = np.random.default_rng(2).permutation(len(ITEM_IDS))
    mask = feedback_mask(ITEM_IDS, 0.3, seed=3)
    np.testing.assert_array_equal(feedback_mask(ITEM_IDS[order], 0.3, seed=3), mask[order])


def test_it_repeats_the_split_for_a_seed_and_changes_it_for_another():
    first = feedback_mask(ITEM_IDS, 0.3, seed=4)
    np.testing.assert_array_equal(first, feedback_mask(ITEM_IDS, 0.3, seed=4))
    other = feedback_mask(ITEM_IDS, 0.3, seed=5)
    # Independent 30% samples overlap on about 9% of the items, far from all 30%.
    assert 0.05 < np.mean(first & other) < 0.14


def test_it_spreads_the_feedback_part_over_the_whole_split():
    mask = feedback_mask(ITEM_IDS, 0.3, seed=6)
    # Each tenth of the id range holds about 30 of its 100 items, not a contiguous block.
    per_tenth = mask.reshape(10, 100).sum(axis=1)
    assert per_tenth.min() >= 15 and per_tenth.max() <= 45


def test_it_accepts_integer_item_ids():
    assert feedback_mask(np.arange(50), 0.5, seed=7).sum() == 25


def test_it_rejects_duplicate_ids_and_impossible_fractions():
    with pytest.raises(ValueError, match="unique"):
        feedback_mask(np.array(["a", "b", "a"]), 0.3, seed=1)
    with pytest.raises(ValueError, match="fraction"):
        feedback_mask(ITEM_IDS, 1.5, seed=1)
