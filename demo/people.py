"""Families (the Stripe customers who pay), their students, and the students' saved cards."""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from demo.catalog import CARD_BRANDS, CARD_COUNTRIES, CARD_FUNDING, FAMILY_CURRENCIES, FIRST_NAMES, LAST_NAMES
from demo.ids import StripeIds

DAY = 86_400


@dataclass(frozen=True)
class Card:
    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str
    """Stable per card number: what fraud rules group on."""
    country: str
    funding: str
    created: int


@dataclass
class Student:
    id: int
    name: str
    email: str
    created: int
    cards: list[Card] = field(default_factory=list)


@dataclass
class Family:
    id: int
    name: str
    email: str
    customer_id: str
    currency: str
    created: int
    students: list[Student] = field(default_factory=list)


def weighted(rng: random.Random, table: dict[str, float]) -> str:
    return rng.choices(tuple(table), weights=tuple(table.values()))[0]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace("-", "")


def new_card(rng: random.Random, ids: StripeIds, currency: str, created: int, year: int, *, test: bool = False) -> Card:
    """A card as Stripe shows it: never the number, only brand, last4, expiry and a fingerprint."""
    brand = "visa" if test else weighted(rng, CARD_BRANDS)
    return Card(
        payment_method_id=ids.new("pm"),
        brand=brand,
        last4="4242" if test else f"{rng.randrange(10_000):04d}",  # 4242: Stripe's test Visa
        exp_month=rng.randint(1, 12),
        exp_year=year + rng.randint(1, 6),
        fingerprint=ids.token(16),
        country="US" if test else rng.choice(CARD_COUNTRIES[currency]),
        funding="credit" if test else weighted(rng, CARD_FUNDING),
        created=created,
    )


def families(
    rng: random.Random, ids: StripeIds, *, students: int, start: int, year: int, currencies: tuple[str, ...]
) -> Iterator[Family]:
    """Families of one to three students until `students` exist; the first ones pay in `currencies`
    (one family each, so every currency appears however small the set), the rest draw theirs."""
    student_id = 0
    family_id = 0
    while student_id < students:
        family_id += 1
        last = rng.choice(LAST_NAMES)
        parent = rng.choice(FIRST_NAMES)
        created = start - rng.randint(1, 700) * DAY - rng.randrange(DAY)
        family = Family(
            id=family_id,
            name=f"{parent} {last}",
            email=f"{_ascii(parent)}.{_ascii(last)}{family_id}@example.com",
            customer_id=ids.new("cus"),
            currency=currencies[family_id - 1] if family_id <= len(currencies) else weighted(rng, FAMILY_CURRENCIES),
            created=created,
        )
        for _ in range(min(rng.choices((1, 2, 3), weights=(55, 33, 12))[0], students - student_id)):
            student_id += 1
            first = rng.choice(FIRST_NAMES)
            joined = created + rng.randrange(30 * DAY)
            student = Student(
                id=student_id,
                name=f"{first} {last}",
                email=f"{_ascii(first)}.{_ascii(last)}{student_id}@example.com",
                created=joined,
            )
            student.cards = [
                new_card(rng, ids, family.currency, joined, year) for _ in range(rng.choices((1, 2), (80, 20))[0])
            ]
            family.students.append(student)
        yield family
