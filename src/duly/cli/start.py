"""The ``duly`` program's entry point: a quick path for exporting a stored document, else the full command line.

``duly invoices export NUMBER`` of an issued invoice whose document is stored only copies bytes out of the
database, yet the full command line sets Django up first (every app, its models and services: over a second of
CPU). This entry point serves that case with the settings, the database driver and one query, and hands every
other command line (and any case it is unsure of) to :data:`duly.cli.main` unchanged:

- only ``invoices export NUMBER`` with ``--org``, ``--format`` and ``-o``/``--output`` (no ``--date``, no help);
- only a document already stored (the full path renders and stores it the first time);
- only SQLite (an existing file, only read) and PostgreSQL without driver options; any error, and it runs the full path instead,
  which says what is wrong in its own words.

It writes the same bytes and prints the same line as the full ``export`` command.
"""

from __future__ import annotations

import os
import sys

__all__ = ["main", "stored_export"]

_FORMATS = ("pdf", "ubl", "facturx", "cii")
#: The stored document of an invoice (by organization slug, number and format), as ``document_bytes`` finds it.
_QUERY = (
    "SELECT d.filename, d.content, d.sha256 FROM invoicing_storeddocument d "
    "JOIN invoicing_invoice i ON i.id = d.invoice_id JOIN customers_organization o ON o.id = i.organization_id "
    "WHERE o.slug = {p} AND i.number = {p} AND d.format = {p}"
)


def main() -> None:
    if not stored_export(sys.argv[1:]):
        from duly.cli import main as cli

        sys.argv[0] = sys.argv[0].removesuffix(".exe")
        sys.exit(cli())


def _export_args(argv: list[str]) -> dict | None:
    """{number, org, fmt, output} of ``invoices export NUMBER [options]``, or None for anything else."""
    if len(argv) < 3 or argv[:2] != ["invoices", "export"]:
        return None
    found: dict = {"number": None, "org": os.environ.get("DULY_ORG") or None, "fmt": "pdf", "output": None}
    names = {"--org": "org", "--format": "fmt", "-o": "output", "--output": "output"}
    rest = argv[2:]
    while rest:
        arg = rest.pop(0)
        name, eq, value = arg.partition("=")
        if name in names and (eq or rest):
            found[names[name]] = value if eq else rest.pop(0)
        elif not arg.startswith("-") and found["number"] is None:
            found["number"] = arg
        else:  # --date, --help, a second argument, "--": the full command line decides
            return None
    if not found["number"] or found["fmt"] not in _FORMATS or found["output"] == "":
        return None
    return found


def _connect():
    """A DB-API connection to Duly's database and its parameter marker, from Duly's own settings; None when the
    database is not one this quick path reads."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duly.settings")
    if os.environ["DJANGO_SETTINGS_MODULE"] != "duly.settings":
        return None
    from duly import settings

    db = settings.DATABASES["default"]
    engine = db["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        import pathlib
        import sqlite3

        path = pathlib.Path(db["NAME"])
        if not path.is_file():
            return None
        return sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True, timeout=30), "?"  # never creates a file
    if engine == "django.db.backends.postgresql" and not db.get("OPTIONS"):
        import psycopg

        params = {"dbname": db["NAME"], "user": db.get("USER"), "password": db.get("PASSWORD"),
                  "host": db.get("HOST"), "port": db.get("PORT")}
        return psycopg.connect(**{k: v for k, v in params.items() if v}), "%s"
    return None


def _stored(args: dict) -> tuple[str, bytes, str] | None:
    """(file name, bytes, sha256) of the stored document, or None (not stored, not found, not sure)."""
    connected = _connect()
    if connected is None:
        return None
    conn, p = connected
    try:
        cursor = conn.cursor()
        slug = args["org"]
        if slug is None:  # the only organization there is
            cursor.execute("SELECT slug FROM customers_organization LIMIT 2")
            slugs = cursor.fetchall()
            if len(slugs) != 1:
                return None
            slug = slugs[0][0]
        cursor.execute(_QUERY.format(p=p), (slug, args["number"], args["fmt"]))
        rows = cursor.fetchall()
        if len(rows) != 1:
            return None
        filename, content, sha256 = rows[0]
        return filename, bytes(content), sha256
    finally:
        conn.close()


def stored_export(argv: list[str]) -> bool:
    """Serve ``duly invoices export`` of a stored document (True), or do nothing (False: run the full path)."""
    args = _export_args(argv)
    if args is None:
        return False
    try:
        found = _stored(args)
    except Exception:  # noqa: BLE001 - the full path runs instead, and reports any problem properly
        return False
    if found is None:
        return False
    filename, content, sha256 = found
    if args["output"] == "-":
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
        return True
    path = args["output"] or filename
    try:
        with open(path, "wb") as fh:
            fh.write(content)
    except OSError:
        return False  # the full path reports it (one line, exit code)
    print(f"Wrote {path} ({args['fmt']}, {len(content)} bytes, stored, sha256 {sha256[:16]}…)")
    return True
