"""A leaderboard and a comparison as the API serves them.

Both are dicts built from stored records, not model instances. The views render them through
these serializers, so the OpenAPI schema and the JSON cannot drift apart: a key that is not
described here is not served.
"""

from __future__ import annotations

from rest_framework import serializers

from touchstone.api.breakdown_serializers import EntrySummarySerializer


class IntervalSerializer(serializers.Serializer):
    value = serializers.FloatField(help_text="The point value, computed on all the items of the part.")
    ci_low = serializers.FloatField(help_text="Lower end of the bootstrap confidence interval.")
    ci_high = serializers.FloatField(help_text="Upper end of the bootstrap confidence interval.")


class LeaderboardEntrySerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    rank_lower = serializers.IntegerField(help_text="Best rank within the 95% rank interval.")
    rank_upper = serializers.IntegerField(help_text="Worst rank within the 95% rank interval.")
    rank_lower_simultaneous = serializers.IntegerField(allow_null=True)
    rank_upper_simultaneous = serializers.IntegerField(allow_null=True)
    tier = serializers.IntegerField(help_text="Entries in one tier cannot be told apart.")
    p_value_vs_leader = serializers.FloatField(
        allow_null=True, help_text="Holm-adjusted; frozen versions only (null while a version is open)."
    )
    p_value_vs_next = serializers.FloatField(
        allow_null=True, help_text="Holm-adjusted; frozen versions only (null while a version is open)."
    )
    feedback_rank = serializers.IntegerField(
        allow_null=True, help_text="Frozen boards: the team's rank on the open board when the version froze."
    )
    difference_to_leader = IntervalSerializer(
        allow_null=True,
        help_text="Frozen boards: the primary metric minus the best of the other entries', with its simultaneous "
        "95% interval (for the leader, its lead over the runner-up); tier 1 is every entry whose interval "
        "reaches 0. Null while a version is open.",
    )
    submission = serializers.IntegerField(help_text="The submission's id.")
    model_name = serializers.CharField()
    team = serializers.CharField()
    team_members = serializers.ListField(
        child=serializers.CharField(), help_text="Usernames of the team's members (empty for a baseline)."
    )
    is_baseline = serializers.BooleanField()
    team_submissions = serializers.IntegerField(help_text="Every submission the team made to the version.")
    sha256 = serializers.CharField(help_text="SHA-256 of the uploaded model file.")
    metrics = serializers.DictField(child=IntervalSerializer(), help_text="Metric name → value and interval.")
    summary = EntrySummarySerializer(
        help_text="Robustness, calibration, slice and cost columns from the entry's breakdowns on the board's part."
    )


class LeaderboardSerializer(serializers.Serializer):
    benchmark = serializers.CharField()
    version = serializers.CharField()
    status = serializers.CharField()
    part = serializers.ChoiceField(choices=["feedback", "final"], help_text="The part of the hidden split ranked.")
    primary_metric = serializers.CharField()
    metrics = serializers.ListField(child=serializers.CharField(), help_text="Metrics shown, in column order.")
    n_items = serializers.IntegerField(allow_null=True)
    n_feedback_items = serializers.IntegerField(allow_null=True)
    n_final_items = serializers.IntegerField(allow_null=True)
    minimum_detectable_effect = serializers.FloatField(
        allow_null=True, help_text="While open: from the released entries of different teams only."
    )
    discordance_rate = serializers.FloatField(
        allow_null=True, help_text="While open: from the released entries of different teams only."
    )
    n_resamples = serializers.IntegerField(allow_null=True)
    computed_at = serializers.CharField(allow_null=True, help_text="ISO 8601 time the board was computed.")
    entries = LeaderboardEntrySerializer(many=True)


class ComparisonSerializer(serializers.Serializer):
    part = serializers.ChoiceField(choices=["feedback", "final"])
    n_items = serializers.IntegerField()
    metric = serializers.CharField()
    a = serializers.IntegerField(help_text="Submission A's id.")
    b = serializers.IntegerField(help_text="Submission B's id.")
    difference = IntervalSerializer(
        help_text="A − B of the metric, with its paired bootstrap interval; while a version is open, the "
        "difference of the released values with the interval rounded outward to the 1/n grid."
    )
    p_value = serializers.FloatField(allow_null=True, help_text="Frozen versions only (null while open).")
    method = serializers.CharField(allow_null=True, help_text="The test that gave the p-value; null while open.")
    # Open versions publish neither p-values nor discordant counts: with n they pin the counts.
    a_only_correct = serializers.IntegerField(allow_null=True, required=False)
    b_only_correct = serializers.IntegerField(allow_null=True, required=False)
