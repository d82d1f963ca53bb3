"""The demo world's fixed data: what the platform sells, who pays, and how cards decline or get disputed."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Package:
    id: int
    name: str
    hours: Decimal
    price: Decimal
    """In major units of `currency`."""
    currency: str


# Hours and price per currency, in major units. Priced per market, not converted: jpy has no decimals
# (the trial is ¥5,000, Stripe amount 5000) and kwd has three (10.500 KWD is Stripe amount 10500).
PACKAGE_SIZES: tuple[tuple[str, Decimal, int], ...] = (
    # name, hours, weight in random purchases
    ("Trial lesson", Decimal("1.00"), 15),
    ("5-hour pack", Decimal("5.00"), 35),
    ("10-hour pack", Decimal("10.00"), 35),
    ("20-hour pack", Decimal("20.00"), 15),
)
PRICES: dict[str, tuple[str, ...]] = {
    "usd": ("35.00", "160.00", "300.00", "560.00"),
    "eur": ("32.00", "150.00", "280.00", "520.00"),
    "gbp": ("28.00", "130.00", "245.00", "460.00"),
    "brl": ("180.00", "790.00", "1490.00", "2790.00"),
    "jpy": ("5000", "23000", "44000", "82000"),
    "kwd": ("10.500", "48.750", "92.250", "172.500"),
}
PACKAGES: tuple[Package, ...] = tuple(
    Package(id=1 + c * len(PACKAGE_SIZES) + s, name=name, hours=hours, price=Decimal(prices[s]), currency=currency)
    for c, (currency, prices) in enumerate(PRICES.items())
    for s, (name, hours, _) in enumerate(PACKAGE_SIZES)
)
PACKAGE_WEIGHTS = tuple(weight for _, _, weight in PACKAGE_SIZES)


def packages_in(currency: str) -> tuple[Package, ...]:
    return tuple(p for p in PACKAGES if p.currency == currency)


# A family pays in its market's currency; most of the platform's families are in the US.
FAMILY_CURRENCIES = {"usd": 72, "eur": 9, "gbp": 7, "brl": 6, "jpy": 3, "kwd": 3}
CARD_COUNTRIES = {
    "usd": ("US",),
    "eur": ("DE", "FR", "ES", "PT", "NL", "IT"),
    "gbp": ("GB",),
    "brl": ("BR",),
    "jpy": ("JP",),
    "kwd": ("KW",),
}
CARD_BRANDS = {"visa": 55, "mastercard": 30, "amex": 10, "discover": 5}
CARD_FUNDING = {"credit": 60, "debit": 38, "prepaid": 2}

FIRST_NAMES = (
    "Ana", "Bruno", "Carla", "Diego", "Elena", "Felipe", "Grace", "Hiro", "Inês", "James", "Kenji", "Laila",
    "Mateus", "Nadia", "Omar", "Priya", "Quinn", "Rafael", "Sofia", "Tomás", "Uma", "Victor", "Wen", "Yara",
    "Zoe", "Aiko", "Ben", "Chloe", "Dara", "Emma",
)
LAST_NAMES = (
    "Silva", "Santos", "Oliveira", "Smith", "Johnson", "Brown", "Müller", "Schmidt", "Dubois", "Martin",
    "García", "López", "Rossi", "Tanaka", "Sato", "Al-Sabah", "Al-Mutairi", "Taylor", "Wilson", "Costa",
    "Pereira", "Ferreira", "Walker", "Evans", "Nakamura", "Hughes", "Moreau", "Romano", "Kowalski", "Novak",
)


@dataclass(frozen=True)
class Decline:
    """One way a card attempt fails: the charge's failure fields, its outcome, and the error the PI reports."""

    failure_code: str
    decline_code: str
    message: str
    outcome_type: str  # issuer_declined | blocked | invalid
    outcome_reason: str
    seller_message: str
    risk_level: str = "normal"
    network_decline_code: str | None = None
    advice_code: str | None = None

    @property
    def network_status(self) -> str:
        return "declined_by_network" if self.outcome_type == "issuer_declined" else "not_sent_to_network"


_DECLINED = "Your card was declined."
_BANK_SAYS = "The bank returned the decline code `{}`."
DECLINES: dict[str, Decline] = {
    d.decline_code if d.outcome_type != "blocked" else "radar_block": d
    for d in (
        Decline("card_declined", "insufficient_funds", "Your card has insufficient funds.", "issuer_declined",
                "insufficient_funds", _BANK_SAYS.format("insufficient_funds"), network_decline_code="51",
                advice_code="try_again_later"),
        Decline("card_declined", "generic_decline", _DECLINED, "issuer_declined", "generic_decline",
                "The bank did not return any further details with this decline.", network_decline_code="05"),
        Decline("card_declined", "do_not_honor", _DECLINED, "issuer_declined", "do_not_honor",
                _BANK_SAYS.format("do_not_honor"), network_decline_code="05"),
        Decline("expired_card", "expired_card", "Your card has expired.", "issuer_declined", "expired_card",
                _BANK_SAYS.format("expired_card"), network_decline_code="54", advice_code="do_not_try_again"),
        Decline("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.", "issuer_declined",
                "incorrect_cvc", _BANK_SAYS.format("incorrect_cvc"), network_decline_code="N7",
                advice_code="confirm_card_data"),
        Decline("processing_error", "processing_error",
                "An error occurred while processing your card. Try again in a little bit.", "issuer_declined",
                "processing_error", _BANK_SAYS.format("processing_error"), network_decline_code="96",
                advice_code="try_again_later"),
        Decline("incorrect_number", "incorrect_number", "Your card number is incorrect.", "invalid",
                "incorrect_number", "The card number is invalid.", advice_code="confirm_card_data"),
        Decline("card_declined", "fraudulent", _DECLINED, "issuer_declined", "fraudulent",
                _BANK_SAYS.format("fraudulent"), risk_level="elevated", network_decline_code="59",
                advice_code="do_not_try_again"),
        Decline("card_declined", "lost_card", _DECLINED, "issuer_declined", "lost_card",
                _BANK_SAYS.format("lost_card"), risk_level="elevated", network_decline_code="41",
                advice_code="do_not_try_again"),
        Decline("card_declined", "stolen_card", _DECLINED, "issuer_declined", "stolen_card",
                _BANK_SAYS.format("stolen_card"), risk_level="elevated", network_decline_code="43",
                advice_code="do_not_try_again"),
        # Radar blocks before the network sees the card; the customer is told the card was declined.
        Decline("card_declined", "fraudulent", _DECLINED, "blocked", "highest_risk_level",
                "Stripe blocked this payment as too risky.", risk_level="highest"),
    )
}
# How often each issuer decline happens among failed attempts (Radar blocks are their own scenario).
DECLINE_WEIGHTS = {
    "insufficient_funds": 30, "generic_decline": 22, "do_not_honor": 10, "expired_card": 9, "incorrect_cvc": 9,
    "processing_error": 5, "incorrect_number": 3, "fraudulent": 4, "lost_card": 4, "stolen_card": 4,
}


@dataclass(frozen=True)
class DisputeReason:
    reason: str
    weight: int
    visa_code: str
    mastercard_code: str


DISPUTE_REASONS = (
    DisputeReason("fraudulent", 40, "10.4", "4837"),
    DisputeReason("product_not_received", 20, "13.1", "4855"),
    DisputeReason("duplicate", 8, "12.6.1", "4834"),
    DisputeReason("product_unacceptable", 12, "13.3", "4853"),
    DisputeReason("credit_not_processed", 12, "13.6", "4860"),
    DisputeReason("general", 8, "13.7", "4853"),
)
