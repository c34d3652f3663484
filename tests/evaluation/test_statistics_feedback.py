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


def random_clusters(n_items: int, seed: int) -> np.ndarray:
    """Clusters of 1 to 12 items, in shuffled order."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 13, n_items)
    labels = np.repeat(np.arange(n_items), sizes)[:n_items]
    return np.array([f"g{k}" for k in rng.permutation(labels)])


def test_it_keeps_each_declared_cluster_whole():
    clusters = random_clusters(len(ITEM_IDS), seed=8)
    mask = feedback_mask(ITEM_IDS, 0.3, seed=9, clusters=clusters)
    for cluster in np.unique(clusters):
        members = mask[clusters == cluster]
        assert members.all() or not members.any(), cluster
    # At least the target share, and short of it by less than one cluster before the last one.
    largest = max(np.sum(clusters == cluster) for cluster in np.unique(clusters))
    assert 300 <= mask.sum() < 300 + largest


def test_it_divides_clusters_independently_of_item_order():
    clusters = random_clusters(len(ITEM_IDS), seed=10)
    order = np.random.default_rng(11).permutation(len(ITEM_IDS))
    mask = feedback_mask(ITEM_IDS, 0.3, seed=12, clusters=clusters)
    np.testing.assert_array_equal(feedback_mask(ITEM_IDS[order], 0.3, seed=12, clusters=clusters[order]), mask[order])
    assert not feedback_mask(ITEM_IDS, 0.0, seed=12, clusters=clusters).any()
    assert feedback_mask(ITEM_IDS, 1.0, seed=12, clusters=clusters).all()


def test_it_refuses_a_cluster_column_of_another_length():
    with pytest.raises(ValueError, match="cluster column"):
        feedback_mask(ITEM_IDS, 0.3, seed=1, clusters=np.array(["a"] * 10))


def test_no_seattle_weather_week_straddles_the_feedback_and_final_parts(tmp_path):
    from catalog import BUILDERS
    from evaluation.parts import hidden_parts

    benchmark = BUILDERS["seattle-weather"](tmp_path / "seattle-weather")
    test = benchmark.load_split("test")
    weeks = test.metadata["cluster"]

    def straddling(parts: dict[str, np.ndarray]) -> int:
        return sum(1 for week in np.unique(weeks) if len(set(parts["feedback"][weeks == week].tolist())) == 2)

    arguments = {"content_hash": benchmark.content_hash, "fraction": benchmark.spec.feedback_fraction}
    parts = hidden_parts(test.item_ids, clusters=weeks, **arguments)
    assert straddling(parts) == 0
    assert abs(parts["feedback"].mean() - benchmark.spec.feedback_fraction) < 0.02
    # Item by item, most weeks would have days on both sides.
    assert straddling(hidden_parts(test.item_ids, clusters=None, **arguments)) > 100
