"""The shape of a version's public diff from the version before it (``GET …/diff/``)."""

from __future__ import annotations

from rest_framework import serializers


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
