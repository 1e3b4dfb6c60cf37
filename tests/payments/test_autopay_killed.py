"""No charge twice when a real autopay process is SIGKILLed between Stripe's answer and its recording."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes.stripe_server import StripeFake  # noqa: E402

SCRIPT = Path(__file__).with_name("autopay_kill_script.py")
SRC = Path(__file__).resolve().parents[2] / "src"
KEY = "sk_test_duly_kill"


def _script(home: Path, fake: StripeFake, *args: str, kill_after: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DULY_HOME": str(home), "DATABASE_URL": f"sqlite:///{home / 'autopay.sqlite3'}",
           "DJANGO_SETTINGS_MODULE": "duly.settings", "DULY_STRIPE_SECRET_KEY": KEY, "DULY_STRIPE_API_BASE": fake.url,
           "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    env.pop("DULY_TEST_KILL_AFTER_CHARGES", None)
    if kill_after is not None:
        env["DULY_TEST_KILL_AFTER_CHARGES"] = str(kill_after)
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=300)


def test_an_autopay_process_killed_after_the_third_charge_charges_each_invoice_once(tmp_path, migrated_sqlite):
    migrated_sqlite(tmp_path / "autopay.sqlite3")
    with StripeFake(KEY) as fake:
        seeded = _script(tmp_path, fake, "seed", "5")
        assert seeded.returncode == 0, seeded.stderr
        seed = json.loads(seeded.stdout)
        due = seed["due"]

        killed = _script(tmp_path, fake, "run", due, kill_after=3)
        assert killed.returncode == -9, killed.stderr  # SIGKILL: nothing after Stripe's third answer ran
        mine = [pi for pi in fake.objects("pi_") if pi["customer"] == seed["stripe_customer"]]
        assert len(mine) == 3 and all(pi["status"] == "succeeded" for pi in mine)

        # The next run (the scheduler's next pass, the next day) recovers the three charges Stripe made and
        # charges the two it never received, each with its own key: five charges, five payments.
        nxt = (date.fromisoformat(due) + timedelta(days=1)).isoformat()
        second = _script(tmp_path, fake, "run", nxt)
        assert second.returncode == 0, second.stderr
        result = json.loads(second.stdout)
        assert result["attempts"] == ["succeeded"] * 5 and result["open"] == 0
        mine = [pi for pi in fake.objects("pi_") if pi["customer"] == seed["stripe_customer"]]
        assert len(mine) == 5 and sorted(result["payments"]) == sorted(pi["id"] for pi in mine)
        assert len({pi["metadata"]["duly_idempotency_key"] for pi in mine}) == 5

        third = json.loads(_script(tmp_path, fake, "run", nxt).stdout)  # again: nothing more
        assert third["attempts"] == ["succeeded"] * 5 and len(third["payments"]) == 5
        assert len([pi for pi in fake.objects("pi_") if pi["customer"] == seed["stripe_customer"]]) == 5
