"""A run's provenance record as the API serves it: the public part, and the maintainers' part.

Both are dicts built from the stored run, not model instances. The views render them through
these serializers, so the OpenAPI schema and the JSON cannot drift apart: a key that is not
described here is not served.
"""

from __future__ import annotations

from rest_framework import serializers


class ProvenanceArtifactSerializer(serializers.Serializer):
    sha256 = serializers.CharField(required=False)
    format = serializers.CharField(required=False)
    parameter_count = serializers.IntegerField(allow_null=True, required=False)


class ProvenanceBenchmarkSerializer(serializers.Serializer):
    slug = serializers.CharField(required=False)
    version = serializers.CharField(required=False)
    content_hash = serializers.CharField(required=False)
    file_hashes = serializers.DictField(child=serializers.CharField(), required=False)
    split = serializers.CharField(required=False)


class ProvenanceEvaluatorSerializer(serializers.Serializer):
    version = serializers.CharField(required=False)
    revision = serializers.CharField(allow_null=True, required=False)


class ProvenancePlatformSerializer(serializers.Serializer):
    system = serializers.CharField(required=False)
    machine = serializers.CharField(required=False)


class ProvenanceBootstrapSerializer(serializers.Serializer):
    resamples = serializers.IntegerField(required=False, help_text="Resamples B of every bootstrap interval.")


class ProvenanceSandboxSerializer(serializers.Serializer):
    layers = serializers.ListField(child=serializers.CharField(), required=False)


class ProvenanceInferenceSerializer(serializers.Serializer):
    items = serializers.IntegerField(required=False)
    batch_size = serializers.IntegerField(required=False)


class ProvenanceCostSerializer(serializers.Serializer):
    median_batch_seconds = serializers.FloatField(allow_null=True, required=False)
    peak_memory_bytes = serializers.IntegerField(allow_null=True, required=False)
    startup_seconds = serializers.FloatField(allow_null=True, required=False)


class ProvenanceSerializer(serializers.Serializer):
    """The public provenance record (``touchstone.submissions.provenance.PUBLIC_FIELDS``)."""

    submission = serializers.IntegerField()
    attempt = serializers.IntegerField()
    artifact = ProvenanceArtifactSerializer(required=False)
    benchmark = ProvenanceBenchmarkSerializer(required=False)
    evaluator = ProvenanceEvaluatorSerializer(required=False)
    packages = serializers.DictField(
        child=serializers.CharField(), required=False, help_text="Package → version in the evaluating environment."
    )
    platform = ProvenancePlatformSerializer(required=False)
    seeds = serializers.DictField(child=serializers.IntegerField(), required=False)
    bootstrap = ProvenanceBootstrapSerializer(
        required=False, help_text="Absent from records kept before the number of resamples was recorded."
    )
    sandbox = ProvenanceSandboxSerializer(required=False)
    inference = ProvenanceInferenceSerializer(required=False)
    cost = ProvenanceCostSerializer(required=False, help_text="Rounded to two significant figures.")
    predictions_hmac_sha256 = serializers.CharField(
        required=False, help_text="Keyed hash of the predictions: equal predictions give equal hashes."
    )
    private = serializers.DictField(required=False, help_text="Maintainers only: exact figures and the worker.")


class PrivateProvenanceSerializer(serializers.Serializer):
    """The maintainers' part of a run's provenance (``evaluation.provenance_records.PrivateProvenance``)."""

    submission = serializers.IntegerField()
    attempt = serializers.IntegerField()
    worker = serializers.CharField(help_text="Host name of the worker that ran it.")
    timings = serializers.DictField(child=serializers.FloatField(), required=False, help_text="Seconds, by step.")
    sandbox = serializers.DictField(
        required=False, help_text="Exact start-up, wall and per-batch seconds, peak memory and its source."
    )
    host = serializers.DictField(child=serializers.CharField(), required=False)
    predictions_sha256 = serializers.CharField(required=False, help_text="Plain sha256 of the float32 probabilities.")
