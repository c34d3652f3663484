"""The ``breakdowns`` field of a submission: what each key means, so the schema documents it.

Built from the dict ``disclosure.submission_breakdowns`` returns (``evaluation.breakdowns``).
"""

from __future__ import annotations

from rest_framework import serializers


class ProportionSerializer(serializers.Serializer):
    n = serializers.IntegerField(help_text="Items in the group.")
    value = serializers.FloatField(
        allow_null=True, help_text="Share of the group's items predicted right; null without items."
    )
    low = serializers.FloatField(allow_null=True, help_text="Lower end of its 95% Wilson interval (cluster-adjusted).")
    high = serializers.FloatField(allow_null=True, help_text="Upper end of its 95% Wilson interval (cluster-adjusted).")


# "class" is a Python keyword, so this serializer is built with ``type`` to give it a field of that name.
ClassRecallSerializer = type(
    "ClassRecallSerializer",
    (ProportionSerializer,),
    {"class": serializers.CharField(help_text="Class name; value is its recall."), "__module__": __name__},
)


class PerClassSerializer(serializers.Serializer):
    classes = serializers.ListField(child=serializers.CharField(), help_text="Class names, in label order.")
    confusion = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="confusion[t][p]: items of true class t predicted as class p.",
    )
    recall = ClassRecallSerializer(many=True, help_text="Each class's recall with its interval.")


class SliceSerializer(ProportionSerializer):
    slice = serializers.CharField(help_text="The metadata value shared by the slice's items.")
    small = serializers.BooleanField(help_text="Fewer than 30 items: the interval is wide, read it with care.")
    rest = serializers.FloatField(allow_null=True, help_text="Accuracy on every other item of the part.")
    p_value = serializers.FloatField(
        allow_null=True,
        help_text="Benjamini–Hochberg adjusted p-value of the two-sided test of the slice against the rest.",
    )
    significantly_below = serializers.BooleanField(
        help_text="Adjusted p-value at most 0.05 and accuracy below the rest's."
    )


class SliceColumnSerializer(serializers.Serializer):
    slices = SliceSerializer(many=True)
    worst = serializers.CharField(help_text="The slice with the lowest accuracy among those of 30 items or more.")


class EraSerializer(ProportionSerializer):
    era = serializers.CharField()


class DriftSerializer(serializers.Serializer):
    eras = EraSerializer(many=True, help_text="Accuracy per era, oldest first.")
    slope = serializers.FloatField(
        allow_null=True, help_text="Least-squares change of accuracy per era; null with fewer than two eras."
    )
    slope_low = serializers.FloatField(
        allow_null=True, help_text="Lower end of its 95% interval (robust standard error)."
    )
    slope_high = serializers.FloatField(allow_null=True, help_text="Upper end of its 95% interval.")


class ReliabilityBinSerializer(serializers.Serializer):
    low = serializers.FloatField(help_text="The bin holds confidences in (low, high].")
    high = serializers.FloatField()
    count = serializers.IntegerField()
    confidence = serializers.FloatField(allow_null=True, help_text="Mean confidence of the bin's items.")
    accuracy = serializers.FloatField(allow_null=True, help_text="Share of the bin's items predicted right.")


class BreakdownsSerializer(serializers.Serializer):
    part = serializers.ChoiceField(
        choices=["feedback", "final"], help_text="The part of the hidden split the breakdowns are computed on."
    )
    n_items = serializers.IntegerField()
    accuracy = serializers.FloatField(help_text="Accuracy on the part: the reference the slices are tested against.")
    per_class = PerClassSerializer()
    slices = serializers.DictField(
        child=SliceColumnSerializer(), help_text="For each slice column the spec declares, its slices."
    )
    drift = DriftSerializer(
        allow_null=True, help_text="Per-era accuracy and slope; null without a declared era column."
    )
    reliability = ReliabilityBinSerializer(many=True, help_text="The 15 equal-width confidence bins of the ECE.")
