from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("rankings", "0006_leaderboardentry_difference_to_leader"),
    ]

    operations = [
        migrations.AddField(
            model_name="leaderboardentry",
            name="summary",
            field=models.JSONField(
                blank=True,
                help_text="The summary columns from the entry's breakdowns on the board's part: corrupted accuracy, "
                "mCE, adversarial accuracy, ECE, worst slice, latency, each {value, low, high} or null.",
                null=True,
            ),
        ),
    ]
