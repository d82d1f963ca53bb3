"""The currencies payops accepts, with the exponent of their minor unit as Stripe's API counts it.

The table is dbt/seeds/currencies.csv: dbt joins it to convert minor units, and processing holds back any
object whose currency it lacks (so no relationships test can fail on a legitimate charge). Its rows come from
ISO 4217 (the `iso4217` package, maintained from the ISO maintenance agency's list) with Stripe's own
exceptions below (docs/decisions.md, "Currencies: ISO 4217 and Stripe's special cases").
Regenerate it with `python -m ingest.currencies` after upgrading iso4217; a test keeps the two in step, and
rows added by hand (a retired code found in old data) are kept.
"""

from __future__ import annotations

import csv
from pathlib import Path

import iso4217

SEED = Path(__file__).resolve().parent.parent / "dbt" / "seeds" / "currencies.csv"

STRIPE_EXPONENTS = {
    # Stripe lists MGA as zero-decimal; ISO 4217 gives it 2 (the iraimbilanja, a fifth of an ariary).
    "mga": 0,
    # ISO 4217 gives ISK 0; Stripe keeps ISK two-decimal in its API (100 = 1 krona, amounts multiples of 100).
    "isk": 2,
}
"""Where Stripe's API amounts differ from ISO 4217's minor unit. HUF and TWD (payouts in whole units) and the
three-decimal currencies (last digit 0) only restrict amounts; their exponents are ISO's."""

RETIRED_BUT_SEEN = {"hrk": (2, "Croatian Kuna")}
"""Codes ISO has withdrawn that Stripe accepted until recently, so old events may still carry them."""

SETTLED_EXPONENTS = (0, 2, 3)
"""ISO codes with no minor unit (metals, funds, SDR) or four digits (unidades de fomento) are units of account
Stripe never charges in."""

HOW_TO_ADD = (
    "add a row `{code},<digits of its minor unit as Stripe counts them>,<name>` to dbt/seeds/currencies.csv, "
    "then `payops webhooks retry` and `payops refresh`"
)


def generated_rows() -> dict[str, tuple[int, str]]:
    """currency -> (exponent, name) from ISO 4217 with Stripe's exceptions."""
    rows = {
        currency.code.lower(): (STRIPE_EXPONENTS.get(currency.code.lower(), currency.exponent), currency.currency_name)
        for currency in iso4217.Currency
        if currency.exponent in SETTLED_EXPONENTS
    }
    return {**rows, **RETIRED_BUT_SEEN}


def read_seed(path: Path = SEED) -> dict[str, int]:
    """currency -> exponent, as the seed holds them."""
    with path.open(newline="") as seed:
        return {row["currency"]: int(row["exponent"]) for row in csv.DictReader(seed)}


def write_seed(path: Path = SEED) -> int:
    """Write the generated rows, keeping rows added by hand; returns the number of rows."""
    with path.open(newline="") as seed:
        kept = {row["currency"]: (int(row["exponent"]), row["name"]) for row in csv.DictReader(seed)}
    rows = {**kept, **generated_rows()}
    with path.open("w", newline="") as seed:
        writer = csv.writer(seed, lineterminator="\n")
        writer.writerow(("currency", "exponent", "name"))
        writer.writerows((code, exponent, name) for code, (exponent, name) in sorted(rows.items()))
    return len(rows)


if __name__ == "__main__":
    print(f"{write_seed()} currencies in {SEED}")
