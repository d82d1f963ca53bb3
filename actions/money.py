"""Amounts as admins type them (major units) and as Stripe takes them (integer minor units)."""

from __future__ import annotations

import csv
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from actions.errors import ActionInvalid

CURRENCIES_SEED = Path(__file__).resolve().parent.parent / "dbt" / "seeds" / "currencies.csv"


@cache
def currency_exponents() -> dict[str, int]:
    """The minor-unit exponent per lowercase currency, from the same seed the marts use."""
    with CURRENCIES_SEED.open(newline="", encoding="utf-8") as f:
        return {row["currency"].lower(): int(row["exponent"]) for row in csv.DictReader(f)}


def exponent_of(currency: str) -> int:
    try:
        return currency_exponents()[currency.lower()]
    except KeyError:
        raise ActionInvalid(f"{currency.upper()} is not a currency payops knows (dbt/seeds/currencies.csv)") from None


def to_minor(amount: Decimal | str | int | float, currency: str) -> int:
    """Major units → minor units, refusing amounts finer than the currency allows (JPY 10.5, EUR 1.005)."""
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise ActionInvalid(f"{amount!r} is not an amount") from None
    exponent = exponent_of(currency)
    minor = value.scaleb(exponent)
    if minor != minor.to_integral_value():
        places = "no decimals" if exponent == 0 else f"at most {exponent} decimal places"
        raise ActionInvalid(f"{currency.upper()} {value} has the wrong precision: {currency.upper()} takes {places}.")
    if minor <= 0:
        raise ActionInvalid(f"The amount must be more than zero (got {currency.upper()} {value}).")
    return int(minor)


def format_money(minor: int, currency: str) -> str:
    exponent = exponent_of(currency)
    return f"{currency.upper()} {Decimal(minor).scaleb(-exponent):,.{exponent}f}"
