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
    band_low = serializers.FloatField(
        allow_null=True, help_text="Lower end of the 95% bootstrap band of the bin's accuracy; null when empty."
    )
    band_high = serializers.FloatField(allow_null=True, help_text="Upper end of the band.")


class EstimateSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True, help_text="The point value on the part's items.")
    low = serializers.FloatField(allow_null=True, help_text="Lower end of its 95% interval.")
    high = serializers.FloatField(allow_null=True, help_text="Upper end of its 95% interval.")


class CountedEstimateSerializer(EstimateSerializer):
    n = serializers.IntegerField(help_text="Items the figure is computed on.")


class CalibrationSerializer(serializers.Serializer):
    ece = EstimateSerializer(help_text="ECE over 15 equal-width bins, with its BC bootstrap interval.")
    ece_equal_mass = EstimateSerializer(help_text="ECE over 15 equal-mass bins.")
    brier = EstimateSerializer(help_text="Brier score.")
    nll = EstimateSerializer(help_text="Negative log-likelihood.")
    outputs_are_probabilities = serializers.BooleanField(
        help_text="The model's raw outputs already summed to 1: they were scored as logits, so softmax was applied "
        "twice and these figures describe that."
    )


class SeveritySerializer(ProportionSerializer):
    severity = serializers.IntegerField(help_text="1 (mild) to 5 (hard).")
    baseline = serializers.FloatField(allow_null=True, help_text="The reference model's accuracy there.")
    flip_rate = CountedEstimateSerializer(help_text="Share of items whose predicted class changed from the clean one.")


class CorruptionSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField(help_text='"image" or "tabular".')
    description = serializers.CharField()
    ce = serializers.FloatField(allow_null=True, help_text="Σ errors over severities / the reference's.")
    relative_ce = serializers.FloatField(allow_null=True, help_text="The same on errors minus the clean error.")
    severities = SeveritySerializer(many=True)


class CorruptionsSerializer(serializers.Serializer):
    baseline = serializers.CharField(allow_null=True, help_text="The reference model of CE; null when none is scored.")
    items = CorruptionSerializer(many=True)
    mean_accuracy = EstimateSerializer(help_text="Accuracy averaged over every corruption and severity.")
    mce = EstimateSerializer(allow_null=True, help_text="Mean corruption error; null without a reference.")
    relative_mce = EstimateSerializer(allow_null=True)
    flip_rate = EstimateSerializer(help_text="Flip rate averaged over every condition.")
    worst_case = CountedEstimateSerializer(
        help_text="Share of items right clean and under every corruption at severity 3 or less."
    )


class AttackRowSerializer(ProportionSerializer):
    name = serializers.CharField(help_text='"fgsm" or "pgd".')
    eps = serializers.FloatField(help_text="L∞ budget in input units.")
    flip_rate = CountedEstimateSerializer()


class AttackSerializer(serializers.Serializer):
    name = serializers.CharField()
    eps = serializers.FloatField()


class AdversarialSerializer(serializers.Serializer):
    attackable = serializers.BooleanField(help_text="False when the model's input gradients were zero or not finite.")
    reason = serializers.CharField(allow_null=True)
    main = AttackSerializer(allow_null=True, help_text="The attack the leaderboard shows.")
    attacks = AttackRowSerializer(many=True, help_text="Robust accuracy per attack; empty when not attackable.")


class StabilityRowSerializer(CountedEstimateSerializer):
    name = serializers.CharField(help_text="The corruption compared at its mildest severity.")


class StabilitySerializer(serializers.Serializer):
    overall = CountedEstimateSerializer(help_text="Mean Spearman correlation of clean and corrupted saliency.")
    corruptions = StabilityRowSerializer(many=True)


class CostSerializer(serializers.Serializer):
    file_size_bytes = serializers.IntegerField(allow_null=True)
    parameters = serializers.IntegerField(allow_null=True)
    latency_ms = EstimateSerializer(help_text="Median latency per item, with its distribution-free interval.")
    latency_ms_p95 = serializers.FloatField(allow_null=True)
    throughput_per_second = serializers.FloatField(allow_null=True)
    peak_memory_bytes = serializers.IntegerField(allow_null=True)


class SummaryCellSerializer(EstimateSerializer):
    name = serializers.CharField(required=False, help_text="Adversarial accuracy: the attack.")
    eps = serializers.FloatField(required=False, help_text="Adversarial accuracy: its budget.")
    slice = serializers.CharField(required=False, help_text='Worst slice: "column=value".')


class EntrySummarySerializer(serializers.Serializer):
    corrupted_accuracy = SummaryCellSerializer(allow_null=True)
    mce = SummaryCellSerializer(allow_null=True)
    adversarial_accuracy = SummaryCellSerializer(allow_null=True)
    ece = SummaryCellSerializer(allow_null=True)
    worst_slice = SummaryCellSerializer(allow_null=True)
    latency_ms = SummaryCellSerializer(allow_null=True)


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
    calibration = CalibrationSerializer()
    corruptions = CorruptionsSerializer(allow_null=True, help_text="Null when the spec declares no corruption.")
    adversarial = AdversarialSerializer(allow_null=True, help_text="Null when the spec declares no attack.")
    stability = StabilitySerializer(
        allow_null=True, help_text="Null without corruptions or when the model's gradients were unusable."
    )
    cost = CostSerializer(allow_null=True, help_text="Two significant figures each; null for older runs.")
