"""Turn wolph/mt940's expected results (.yml pickles of its own objects) into plain expected.json.

The .yml files dump mt-940's Python objects, so reading them needs yaml's unsafe loader and the mt-940 classes;
tests read the plain expected.json this writes instead. Run once after updating the vendored files:
    .venv/bin/python tests/data/bank-statements/wolph-mt940/make_expected.py
For each .sta with a .yml: the transactions' signed amounts (Decimal as text), currencies and value dates, and the
account, opening and closing balance of the last statement in the file (mt-940 keeps only the last one's).
"""

import json
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


def _balance(value):
    if not value:
        return None
    return {"amount": str(value.amount.amount), "currency": value.amount.currency, "date": value.date.isoformat()}


def main():
    out = {}
    for yml in sorted(HERE.rglob("*.yml")):
        sta = yml.with_suffix(".sta")
        if not sta.exists():
            continue
        data = yaml.unsafe_load(yml.read_text())
        lines = []
        for tx in data.transactions:
            d = tx.data
            if "amount" not in d:
                continue
            lines.append({"amount": str(d["amount"].amount), "currency": d["amount"].currency,
                          "date": d["date"].isoformat()})
        head = data.data
        out[str(sta.relative_to(HERE))] = {
            "account": head.get("account_identification"),
            "opening": _balance(head.get("final_opening_balance")),
            "closing": _balance(head.get("final_closing_balance")),
            "lines": lines,
        }
    (HERE / "expected.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"{len(out)} files")


if __name__ == "__main__":
    main()
