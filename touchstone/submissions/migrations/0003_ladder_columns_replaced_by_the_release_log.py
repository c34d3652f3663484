"""What the Ladder released is recorded in its log (rankings.LadderRelease), not on the submission.

The two columns held the last replay of the Ladder, which a withdrawal could rewrite, and
their values lie on the earlier 1/sqrt(n) grid; the log is rebuilt by the next recompute.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("submissions", "0002_evaluationrun_private_record"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="submission",
            name="ladder_improved",
        ),
        migrations.RemoveField(
            model_name="submission",
            name="ladder_released",
        ),
    ]
