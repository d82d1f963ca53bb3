"""Minor units per currency (ISO 4217 exponents as Stripe uses them)."""

from __future__ import annotations

from decimal import Decimal

# Stripe's currencies page; every other currency Stripe supports has two decimals.
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})


def exponent(currency: str) -> int:
    currency = currency.lower()
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def to_minor(amount: Decimal, currency: str) -> int:
    """Major units (a price such as 10.500 KWD) to Stripe's integer amount (10500)."""
    minor = amount.scaleb(exponent(currency))
    if minor != minor.to_integral_value():
        raise ValueError(f"{amount} {currency} has more decimals than the currency allows")
    return int(minor)


def to_major(minor: int, currency: str) -> Decimal:
    """Stripe's integer amount to major units, exact (5000 JPY -> 5000, 10500 KWD -> 10.500)."""
    return Decimal(minor).scaleb(-exponent(currency))
