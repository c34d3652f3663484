"""The Ladder's append-only release log.

Stored open boards and feedback-part comparisons were computed under the earlier rule (values
on the 1/sqrt(n) grid, p-values, every scored submission in the typical discordance). They are
cleared, and the version counts one more change, so the next recompute builds each open
version's log from its public submissions in scoring order and stores a board under the new
rule. Frozen boards stay as they are.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


def clear_open_boards(apps, schema_editor) -> None:
    LeaderboardSnapshot = apps.get_model("rankings", "LeaderboardSnapshot")
    LeaderboardEntry = apps.get_model("rankings", "LeaderboardEntry")
    PairComparison = apps.get_model("rankings", "PairComparison")
    BenchmarkVersion = apps.get_model("benchmarks", "BenchmarkVersion")
    PairComparison.objects.filter(part="feedback").delete()
    open_versions = list(LeaderboardSnapshot.objects.filter(part="feedback").values_list("version_id", flat=True))
    LeaderboardEntry.objects.filter(version_id__in=open_versions).delete()
    LeaderboardSnapshot.objects.filter(version_id__in=open_versions).delete()
    BenchmarkVersion.objects.filter(pk__in=open_versions).update(generation=models.F("generation") + 1)


class Migration(migrations.Migration):
    dependencies = [
        ("benchmarks", "0002_benchmarkversion_generation"),
        ("rankings", "0003_leaderboardsnapshot_computed_generation"),
        ("submissions", "0002_evaluationrun_private_record"),
    ]

    operations = [
        migrations.CreateModel(
            name="LadderRelease",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "group",
                    models.CharField(
                        help_text="Whose Ladder: team:<name>, or baseline:<id> for a baseline.", max_length=140
                    ),
                ),
                (
                    "sequence",
                    models.PositiveIntegerField(help_text="Position in the version's log, from 1, without gaps."),
                ),
                ("metric", models.CharField(help_text="The metric the Ladder released.", max_length=40)),
                (
                    "n_items",
                    models.PositiveIntegerField(help_text="Items of the feedback part; values lie on the 1/n grid."),
                ),
                (
                    "released",
                    models.FloatField(help_text="The team's shown value after this submission, in the metric's units."),
                ),
                (
                    "improved",
                    models.BooleanField(help_text="Whether the submission beat its team's bar (and so was released)."),
                ),
                (
                    "ci_low",
                    models.FloatField(
                        blank=True, help_text="Released submissions: interval shown with the value.", null=True
                    ),
                ),
                (
                    "ci_high",
                    models.FloatField(
                        blank=True, help_text="Released submissions: interval shown with the value.", null=True
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "submission",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="ladder_release",
                        to="submissions.submission",
                    ),
                ),
                (
                    "version",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="ladder_releases",
                        to="benchmarks.benchmarkversion",
                    ),
                ),
            ],
            options={
                "ordering": ["version", "sequence"],
                "constraints": [
                    models.UniqueConstraint(fields=("version", "sequence"), name="unique_release_sequence")
                ],
            },
        ),
        # Nothing to put back: the cleared boards are recomputed from the ledger.
        migrations.RunPython(clear_open_boards, migrations.RunPython.noop),
    ]
