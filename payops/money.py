"""Money as people read it: exact major units with each currency's own number of decimals."""

from __future__ import annotations

from decimal import Decimal


def to_major(minor_units: int, exponent: int) -> Decimal:
    """Minor units as an exact Decimal in major units: 12345 with exponent 3 -> Decimal('12.345')."""
    # int() first: Decimal refuses numpy integers, which is what a DataFrame cell read with .loc or .at is.
    return Decimal(int(minor_units)).scaleb(-exponent)


def format_money(minor_units: int, currency: str, exponent: int) -> str:
    """Exact major units with the currency's own decimals: 123456 jpy -> '123,456 JPY', 12345 kwd -> '12.345 KWD'."""
    return f"{to_major(minor_units, exponent):,.{exponent}f} {currency.upper()}"
