"""What the API says about versions against each other: the public diff, the changes of order, progress."""

from __future__ import annotations

from rest_framework import serializers

from touchstone.api.board_serializers import IntervalSerializer


class SpecChangeSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="Dotted key of benchmark.toml, e.g. metrics.primary.")
    old = serializers.JSONField(allow_null=True, help_text="null when the key was absent.")
    new = serializers.JSONField(allow_null=True, help_text="null when the key is absent now.")


class RelabelSerializer(serializers.Serializer):
    item_id = serializers.CharField()
    old = serializers.CharField()
    new = serializers.CharField()


class DevChangesSerializer(serializers.Serializer):
    added = serializers.ListField(
        child=serializers.CharField(), help_text="Item ids new to the dev split (new items or formerly hidden ones)."
    )
    removed = serializers.ListField(
        child=serializers.CharField(), help_text="Item ids gone from the dev split (removed, or hidden now)."
    )
    relabelled = RelabelSerializer(many=True)
    inputs_changed = serializers.ListField(child=serializers.CharField())
    n_items = serializers.IntegerField()


class HiddenChangesSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    removed = serializers.IntegerField()
    relabelled = serializers.IntegerField()
    inputs_changed = serializers.IntegerField()
    moved_to_dev = serializers.IntegerField(help_text="Items hidden in the previous version and public in this one.")
    exposed_moved_to_dev = serializers.IntegerField(
        help_text="Of those, items moved because an earlier frozen version had published their results."
    )
    exposed_kept_hidden = serializers.IntegerField(
        help_text="Hidden items that were public in an earlier version and that the maintainers kept hidden."
    )
    n_items = serializers.IntegerField()


class FileHashesSerializer(serializers.Serializer):
    old = serializers.CharField()
    new = serializers.CharField()


class VersionDiffSerializer(serializers.Serializer):
    benchmark = serializers.CharField()
    version = serializers.CharField()
    previous = serializers.CharField(help_text="The visible version published right before this one.")
    changelog = serializers.CharField(allow_blank=True)
    spec_changes = SpecChangeSerializer(many=True)
    dev = DevChangesSerializer()
    hidden = HiddenChangesSerializer(help_text="Counts only: the hidden split's item ids and labels stay hidden.")
    file_hashes = serializers.DictField(child=FileHashesSerializer(), help_text="sha256 of each file, before and now.")


class ProgressRecordSerializer(serializers.Serializer):
    date = serializers.DateTimeField(help_text="When the submission was uploaded.")
    submission = serializers.IntegerField()
    model_name = serializers.CharField()
    team = serializers.CharField()
    is_baseline = serializers.BooleanField()
    value = serializers.FloatField()
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)


class ProgressVersionSerializer(serializers.Serializer):
    version = serializers.CharField()
    status = serializers.CharField()
    part = serializers.CharField(help_text="feedback (open: Ladder-released scores) or final (frozen)")
    metric = serializers.CharField()
    higher_is_better = serializers.BooleanField()
    published_at = serializers.DateTimeField(allow_null=True)
    frozen_at = serializers.DateTimeField(allow_null=True)
    n_results = serializers.IntegerField(help_text="Disclosed results of the version the records are drawn from.")
    records = ProgressRecordSerializer(many=True, help_text="Results better than every earlier one, by date.")


class ProgressSerializer(serializers.Serializer):
    benchmark = serializers.CharField()
    title = serializers.CharField()
    versions = ProgressVersionSerializer(many=True, help_text="Oldest version first.")


class ChangedEntrySerializer(serializers.Serializer):
    submission = serializers.IntegerField(help_text="The re-evaluation on the new version.")
    reevaluation_of = serializers.IntegerField(help_text="The submission it re-evaluates, on the previous version.")
    model_name = serializers.CharField()
    team = serializers.CharField()
    is_baseline = serializers.BooleanField()
    old_rank = serializers.IntegerField(allow_null=True, help_text="Rank among the compared entries before.")
    new_rank = serializers.IntegerField(allow_null=True, help_text="Rank among the compared entries now.")
    old_value = serializers.FloatField(allow_null=True, help_text="The Ladder metric as the previous board shows it.")
    new_value = serializers.FloatField(allow_null=True, help_text="The Ladder metric as the new board shows it.")


class NotComparedSerializer(serializers.Serializer):
    submission = serializers.IntegerField()
    model_name = serializers.CharField()
    team = serializers.CharField()
    reason = serializers.CharField()


class FlippedPairSerializer(serializers.Serializer):
    ahead_before = serializers.IntegerField(
        help_text="The re-evaluation whose origin was ahead on the previous version."
    )
    ahead_after = serializers.IntegerField(help_text="The re-evaluation ahead on the new version.")
    old_difference = IntervalSerializer(help_text="ahead_before minus ahead_after before, in the metric's units.")
    new_difference = IntervalSerializer(help_text="ahead_before minus ahead_after now, in the metric's units.")


class VersionChangesSerializer(serializers.Serializer):
    benchmark = serializers.CharField()
    version = serializers.CharField()
    previous = serializers.CharField(help_text="The version whose entries were re-evaluated on this one.")
    pending = serializers.IntegerField(help_text="Re-evaluations still queued or running; the rest waits for them.")
    complete = serializers.BooleanField()
    metric = serializers.CharField(allow_null=True, help_text="The Ladder metric both versions are compared on.")
    old_part = serializers.CharField(allow_null=True, help_text="feedback (open) or final (frozen or deprecated).")
    new_part = serializers.CharField(allow_null=True)
    entries = ChangedEntrySerializer(many=True)
    not_compared = NotComparedSerializer(many=True, help_text="Re-evaluations one of the two boards does not show.")
    tau = IntervalSerializer(
        allow_null=True,
        help_text="Kendall's tau_b of the two score vectors, with the 95% interval that holds jointly with the "
        "flipped pairs (from simultaneous pairwise intervals on each version).",
    )
    tau_marginal = IntervalSerializer(
        allow_null=True,
        help_text="tau_b with its bias-corrected bootstrap interval alone; only when neither version is open.",
    )
    concordant = serializers.IntegerField(allow_null=True, help_text="Pairs declared in the same order on both.")
    undetermined = serializers.IntegerField(allow_null=True, help_text="Pairs not settled on at least one version.")
    flipped = FlippedPairSerializer(many=True, help_text="Pairs declared in opposite orders on the two versions.")
    n_resamples = serializers.IntegerField(allow_null=True)
    confidence = serializers.FloatField(allow_null=True)
