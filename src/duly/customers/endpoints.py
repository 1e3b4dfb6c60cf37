"""Electronic addresses (Peppol participant identifiers): an Electronic Address Scheme code (EAS,
CEF code list used by Peppol BIS Billing 3.0 rule PEPPOL-EN16931-CL008) and the identifier.

The UBL's EndpointID (BT-34 seller, BT-49 buyer) carries them; an e-mail address is only a contact.
:func:`check_electronic_address` validates the identifier by its scheme with python-stdnum where a
check digit or format exists (SIREN, SIRET, GLN, national company numbers, VAT numbers) and returns it
normalized (no spaces or dots). No I/O: callers are the customers services and their forms.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from stdnum import ean, get_cc_module
from stdnum.au import abn
from stdnum.be import vat as be_vat
from stdnum.dk import cvr
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import siren, siret
from stdnum.it import codicefiscale, iva
from stdnum.no import orgnr as no_orgnr
from stdnum.se import orgnr as se_orgnr

from duly.domain.errors import ValidationError

#: Every code of the Electronic Address Scheme list that Peppol BIS Billing 3.0.19 accepts (CL008).
EAS_CODES = frozenset(
    "0002 0007 0009 0037 0060 0088 0096 0097 0106 0130 0135 0142 0151 0177 0183 0184 0188 0190 0191 0192 0193 "
    "0195 0196 0198 0199 0200 0201 0202 0204 0208 0209 0210 0211 0212 0213 0215 0216 0218 0221 0230 0235 9910 "
    "9913 9914 9915 9918 9919 9920 9922 9923 9924 9925 9926 9927 9928 9929 9930 9931 9932 9933 9934 9935 9936 "
    "9937 9938 9939 9940 9941 9942 9943 9944 9945 9946 9947 9948 9949 9950 9951 9952 9953 9957 9959 0147 0154 "
    "0158 0170 0194 0203 0205 0217 0225 0240".split())

#: VAT-number schemes: EAS code -> ISO country of the VAT number (with its country prefix).
VAT_SCHEMES = {
    "9910": "HU", "9914": "AT", "9920": "ES", "9925": "BE", "9926": "BG", "9928": "CY", "9929": "CZ", "9930": "DE",
    "9931": "EE", "9932": "GB", "9933": "GR", "9934": "HR", "9935": "IE", "9937": "LT", "9938": "LU", "9939": "LV",
    "9943": "MT", "9944": "NL", "9945": "PL", "9946": "PT", "9947": "RO", "9949": "SI", "9950": "SK", "9957": "FR",
}

#: Names shown in forms for the schemes businesses use most (the others show their code).
SCHEME_NAMES = {
    "0002": "SIREN (France)", "0007": "Organisationsnummer (Sweden)", "0009": "SIRET (France)",
    "0060": "DUNS number", "0088": "GLN (Global Location Number)", "0106": "KvK number (Netherlands)",
    "0151": "ABN (Australia)", "0184": "CVR (Denmark)", "0192": "Organisasjonsnummer (Norway)",
    "0204": "Leitweg-ID (Germany)", "0208": "Enterprise number (Belgium)", "0210": "Codice fiscale (Italy)",
    "0211": "Partita IVA (Italy)", "9930": "VAT number (Germany)", "9957": "VAT number (France)",
    "9932": "VAT number (United Kingdom)", "9944": "VAT number (Netherlands)", "9925": "VAT number (Belgium)",
}
EAS_CHOICES = [("", "—")] + [(code, f"{code} {SCHEME_NAMES[code]}" if code in SCHEME_NAMES else code)
                             for code in sorted(EAS_CODES)]

_DIGITS = {"0060": 9, "0106": 8}
_GENERIC = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,49}")


def _stdnum(module) -> Callable[[str], str]:
    return lambda value: module.compact(module.validate(value))


def _vat(country: str) -> Callable[[str], str]:
    """A VAT number of ``country``, stated with its country prefix (EL for Greece)."""
    prefix = "EL" if country == "GR" else country
    module = get_cc_module(country.lower(), "vat")

    def check(value: str) -> str:
        compact = "".join(value.split()).upper()
        if compact[:2].isalpha() and compact[:2] != prefix:
            raise StdnumError(f"not a {country} VAT number")
        return prefix + module.compact(module.validate(compact))

    return check


def _gln(value: str) -> str:
    value = ean.validate(value)
    if len(value) != 13:
        raise StdnumError("a GLN has 13 digits")
    return value


def _belgian_enterprise(value: str) -> str:
    number = be_vat.compact(value)
    if len(number) == 9:
        number = "0" + number
    return be_vat.validate(number)


_CHECKERS: dict[str, Callable[[str], str]] = {
    "0002": _stdnum(siren), "0009": _stdnum(siret), "0088": _gln, "0192": _stdnum(no_orgnr),
    "0007": _stdnum(se_orgnr), "0184": _stdnum(cvr), "0151": _stdnum(abn), "0208": _belgian_enterprise,
    "0210": _stdnum(codicefiscale), "0211": _stdnum(iva),
    **{code: _vat(country) for code, country in VAT_SCHEMES.items()},
}


def check_electronic_address(scheme: str, identifier: str, what: str = "electronic address") -> tuple[str, str]:
    """``(scheme, identifier)`` checked and normalized; both empty means "no electronic address".

    Raises :class:`~duly.domain.errors.ValidationError` (code ``invalid_electronic_address``) naming
    the scheme when the scheme is not an EAS code Peppol accepts, or the identifier fails its check.
    """
    scheme = (scheme or "").strip()
    identifier = (identifier or "").strip()
    if not scheme and not identifier:
        return "", ""
    if not scheme or not identifier:
        raise ValidationError(f"The {what} needs both a scheme (EAS code such as 0002 or 0088) and an identifier.",
                              code="invalid_electronic_address", field="electronic_address")
    if scheme.upper() == "EM" or scheme not in EAS_CODES:
        raise ValidationError(
            f"{scheme!r} is not an Electronic Address Scheme Peppol accepts for the {what} (rule PEPPOL-EN16931-CL008); "
            "use a code such as 0002 (SIREN), 0009 (SIRET), 0088 (GLN), 0208 (Belgian enterprise number) or 9930 "
            "(German VAT number). An e-mail address is a contact, not an electronic address.",
            code="invalid_electronic_address", field="electronic_address_scheme")
    label = SCHEME_NAMES.get(scheme, f"scheme {scheme}")
    checker = _CHECKERS.get(scheme)
    try:
        if checker is not None:
            identifier = checker(identifier)
        elif scheme in _DIGITS:
            identifier = identifier.replace(" ", "")
            if not (identifier.isdigit() and len(identifier) == _DIGITS[scheme]):
                raise StdnumError(f"{_DIGITS[scheme]} digits expected")
        elif not _GENERIC.fullmatch(identifier):
            raise StdnumError("letters, digits and . _ : / - only, at most 50")
    except StdnumError as exc:
        raise ValidationError(f"{identifier!r} is not a valid {label} for the {what}: {str(exc).rstrip('.')}.",
                              code="invalid_electronic_address", field="electronic_address") from None
    return scheme, identifier
