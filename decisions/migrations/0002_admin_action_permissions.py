
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("decisions", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="ruleset",
            options={
                "ordering": ["slug"],
                "permissions": [
                    ("author_ruleset", "Can start and edit rule set drafts, and take one back"),
                    ("submit_ruleset", "Can submit a rule set draft for review"),
                    ("backtest_ruleset", "Can run a backtest of a rule set version"),
                    ("publish_ruleset", "Can publish, retire and roll back rule set versions"),
                ],
            },
        ),
    ]
