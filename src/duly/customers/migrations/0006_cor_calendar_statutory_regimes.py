"""Statutory late-payment regimes by jurisdiction: reference rates in named series (a currency's central bank
rate, or DE-BASIS), and the German, French and UK regimes as contract choices."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0005_cor_calendar_subdivisions"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="statutoryreferencerate", name="uniq_reference_rate"),
        migrations.RenameField(model_name="statutoryreferencerate", old_name="currency", new_name="series"),
        migrations.AlterField(
            model_name="statutoryreferencerate",
            name="series",
            field=models.CharField(help_text="EUR (ECB rate), GBP (Bank of England base rate), DE-BASIS (German base "
                                             "rate) or another currency's code", max_length=16),
        ),
        migrations.AlterField(
            model_name="statutoryreferencerate",
            name="valid_from",
            field=models.DateField(help_text="The day the rate took effect", verbose_name="valid from"),
        ),
        migrations.AlterModelOptions(
            name="statutoryreferencerate",
            options={"ordering": ["series", "-valid_from"], "verbose_name": "statutory reference rate"},
        ),
        migrations.AddConstraint(
            model_name="statutoryreferencerate",
            constraint=models.UniqueConstraint(fields=("series", "valid_from"), name="uniq_reference_rate"),
        ),
        migrations.AlterField(
            model_name='contract',
            name='late_fee_kind',
            field=models.CharField(choices=[('none', 'No late fee'), ('fixed_fee', 'Fixed fee'), ('interest_annual', 'Simple interest per year'), ('interest_monthly', 'Simple interest per month'), ('eu_statutory', 'EU statutory (reference rate + 8 points, EUR 40 compensation)'), ('de_statutory_b2b', 'Germany, §288 BGB between businesses (base rate + 9 points, EUR 40 Pauschale)'), ('de_statutory_b2c', 'Germany, §288 BGB with a consumer (base rate + 5 points)'), ('fr_statutory', 'France, L441-10 Code de commerce (ECB rate + 10 points, EUR 40 indemnity)'), ('uk_statutory', 'UK, Late Payment of Commercial Debts Act (Bank of England base rate + 8 points, GBP 40/70/100)')], default='none', max_length=20),
        ),
        migrations.AlterField(
            model_name='contract',
            name='reference_rate_percent',
            field=models.DecimalField(blank=True, decimal_places=4, help_text="Statutory interest only: an agreed fixed reference rate, overriding the recorded statutory reference rates. Blank: each semester's rate of the law's series (Statutory reference rates).", max_digits=9, null=True),
        ),
    ]
