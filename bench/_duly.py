"""What every benchmark that needs Duly's database does first (not a benchmark itself: ``make bench`` skips it).

``setup(name)`` makes a throw-away home with an SQLite database, points Duly at it (never at ``DATABASE_URL``),
sets a public URL (issuing refuses a loopback one outside the demo and the tests), sets Django up and migrates.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup(name: str, *, with_tests: bool = False) -> Path:
    """Set Duly up on a fresh SQLite database in a temporary home; ``with_tests`` also puts ``tests/`` on the path
    (for the loopback fakes). Returns the home folder."""
    home = Path(tempfile.mkdtemp(prefix=f"duly-bench-{name}-"))
    os.environ.update(DULY_HOME=str(home), DULY_VAR_DIR=str(home / "var"), DULY_MEDIA_ROOT=str(home / "media"),
                      DULY_PUBLIC_URL="https://billing.bench.example")
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duly.settings")
    sys.path.insert(0, str(ROOT / "src"))
    if with_tests:
        sys.path.insert(0, str(ROOT / "tests"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return home
