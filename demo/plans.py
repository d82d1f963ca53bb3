"""What happens to a purchase on Stripe's side, decided up front as plain data (a Plan) and then played out by
demo.lifecycle. Random purchases draw their plan from weighted scenario tables; the rare scenarios are also
forced onto the first families (FORCED_FAMILIES) so that even a small set holds each at least once."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from demo.catalog import DECLINE_WEIGHTS, DECLINES, Decline
from demo.people import DAY, weighted

HOUR = 3_600


@dataclass(frozen=True)
class RefundPlan:
    after: int
    """Seconds after the charge was captured."""
    share: float | None
    """Of the captured amount; None refunds whatever is left."""
    fate: Literal["succeeded", "pending", "failed"]
    """`pending` settles to succeeded after `settles_after`; `failed` fails then, and the money comes back."""
    settles_after: int = 0
    late_delivery: bool = False
    """Deliver this refund's charge.refunded only after the next refund's (a webhook retried with back-off)."""


@dataclass(frozen=True)
class DisputePlan:
    after: int
    """Seconds after the charge was captured."""
    outcome: Literal["won", "lost", "inquiry"]
    respond_by: int
    """Seconds from opening to evidence_details.due_by."""
    evidence_after: int | None
    """None: never answered, so lost once past due."""
    decided_after: int
    """Seconds from the evidence (or the due date) to the decision."""


@dataclass(frozen=True)
class Plan:
    declines: tuple[Decline, ...] = ()
    """Failed attempts on the payment intent, in order; a final approved attempt follows unless `gives_up`."""
    gives_up: bool = False
    retry_after: int = 0
    abandoned: bool = False
    """The checkout is left before any attempt; the intent is canceled."""
    capture_method: Literal["automatic", "manual"] = "automatic"
    capture_after: int | None = None
    """Manual capture: seconds until captured; None = never, so the authorization expires after 7 days."""
    metadata_update: bool = False
    """The platform writes the receipt number into the charge's metadata (a charge.updated)."""
    refunds: tuple[RefundPlan, ...] = ()
    disputes: tuple[DisputePlan, ...] = ()
    livemode: bool = True
    disagreement: Literal["completed_but_failed", "charge_without_purchase", "amount_mismatch"] | None = None
    redeliver: frozenset[str] = frozenset()
    """Event types delivered twice whatever the random duplicate rate."""


class Draw:
    """Draws a plan's details. A forced draw keeps timings at the low end, so guaranteed lifecycles finish
    inside a short window, and always takes the rare delivery twist a scenario can have."""

    def __init__(self, rng: random.Random, *, forced: bool = False) -> None:
        self.rng = rng
        self.forced = forced

    def chance(self, p: float) -> bool:
        return self.forced or self.rng.random() < p

    def seconds(self, low: float, high: float) -> int:
        if self.forced:
            high = low + (high - low) * 0.05
        return int(self.rng.uniform(low, high))


# -- payment outcomes ---------------------------------------------------------------------------------------


def _issuer_decline(draw: Draw) -> Decline:
    return DECLINES[weighted(draw.rng, DECLINE_WEIGHTS)]


def paid(draw: Draw) -> Plan:
    return Plan(metadata_update=draw.rng.random() < 0.15)


def recovered(draw: Draw) -> Plan:
    return Plan(declines=(_issuer_decline(draw),), retry_after=draw.seconds(30, 6 * HOUR))


def declined(draw: Draw) -> Plan:
    tries = draw.rng.choices((1, 2, 3), weights=(60, 30, 10))[0]
    return Plan(declines=tuple(_issuer_decline(draw) for _ in range(tries)), gives_up=True,
                retry_after=draw.seconds(30, HOUR))


def blocked(draw: Draw) -> Plan:
    return Plan(declines=(DECLINES["radar_block"],), gives_up=True)


def authorized_then_captured(draw: Draw) -> Plan:
    return Plan(capture_method="manual", capture_after=draw.seconds(HOUR, 3 * DAY))


def authorized_never_captured(draw: Draw) -> Plan:
    return Plan(capture_method="manual")


def abandoned(draw: Draw) -> Plan:
    return Plan(abandoned=True)


# Weights are percent of purchases; failed attempts come to ~10 % of attempts.
PAYMENTS: dict[str, tuple[float, Callable[[Draw], Plan]]] = {
    "paid": (83.0, paid),
    "recovered": (3.5, recovered),
    "declined": (4.0, declined),
    "blocked": (0.7, blocked),
    "authorized_then_captured": (4.0, authorized_then_captured),
    "authorized_never_captured": (1.3, authorized_never_captured),
    "abandoned": (3.5, abandoned),
}

# -- what happens after the money moved ---------------------------------------------------------------------


def no_aftermath(draw: Draw) -> dict:
    return {}


def full_refund(draw: Draw) -> dict:
    return {"refunds": (_refund(draw, None, pending=draw.chance(0.4)),)}


def partial_refund(draw: Draw) -> dict:
    return {"refunds": (_refund(draw, draw.rng.choice((0.2, 0.25, 0.3, 0.5))),)}


def two_partial_refunds(draw: Draw) -> dict:
    first = replace(_refund(draw, 0.25), late_delivery=draw.chance(0.2))
    second = replace(_refund(draw, 0.35), after=first.after + draw.seconds(DAY, 5 * DAY))
    return {"refunds": (first, second)}


def failed_refund(draw: Draw) -> dict:
    return {"refunds": (RefundPlan(after=draw.seconds(DAY, 20 * DAY), share=None, fate="failed",
                                   settles_after=draw.seconds(DAY, 7 * DAY)),)}


def _refund(draw: Draw, share: float | None, *, pending: bool | None = None) -> RefundPlan:
    if pending is None:
        pending = draw.rng.random() < 0.4
    return RefundPlan(after=draw.seconds(2 * HOUR, 20 * DAY), share=share, fate="pending" if pending else "succeeded",
                      settles_after=draw.seconds(12 * HOUR, 5 * DAY) if pending else 0)


def dispute_won(draw: Draw) -> dict:
    return {"disputes": (_chargeback(draw, "won", after=draw.seconds(DAY, 30 * DAY)),)}


def dispute_lost(draw: Draw) -> dict:
    return {"disputes": (_chargeback(draw, "lost", after=draw.seconds(DAY, 30 * DAY)),)}


def inquiry(draw: Draw) -> dict:
    return {"disputes": (_chargeback(draw, "inquiry", after=draw.seconds(DAY, 30 * DAY)),)}


def disputed_twice(draw: Draw) -> dict:
    first = _chargeback(draw, "won", after=draw.seconds(DAY, 20 * DAY))
    first_closed = first.after + (first.evidence_after or first.respond_by) + first.decided_after
    second = _chargeback(draw, "lost", after=first_closed + draw.seconds(2 * DAY, 20 * DAY))
    return {"disputes": (first, second)}


def _chargeback(draw: Draw, outcome: Literal["won", "lost", "inquiry"], *, after: int) -> DisputePlan:
    # Lost disputes are often never answered; won ones always were.
    answered = outcome != "lost" or draw.rng.random() < 0.5
    return DisputePlan(
        after=after, outcome=outcome, respond_by=draw.seconds(7 * DAY, 21 * DAY),
        evidence_after=draw.seconds(DAY, 6 * DAY) if answered else None,
        decided_after=draw.seconds(2 * DAY, 60 * DAY) if answered else draw.seconds(DAY, 2 * DAY),
    )


# Percent of captured charges; disputes come to ~0.7 %.
AFTERMATHS: dict[str, tuple[float, Callable[[Draw], dict]]] = {
    "none": (93.35, no_aftermath),
    "full_refund": (3.0, full_refund),
    "partial_refund": (2.0, partial_refund),
    "two_partial_refunds": (0.8, two_partial_refunds),
    "failed_refund": (0.15, failed_refund),
    "dispute_won": (0.3, dispute_won),
    "dispute_lost": (0.3, dispute_lost),
    "inquiry": (0.07, inquiry),
    "disputed_twice": (0.03, disputed_twice),
}
CAPTURING = {"paid", "recovered", "authorized_then_captured"}
TEST_MODE_SHARE = 0.03


def _pick(rng: random.Random, table: dict[str, tuple[float, Callable]]) -> str:
    return rng.choices(tuple(table), weights=tuple(w for w, _ in table.values()))[0]


def compose(draw: Draw, payment: str, aftermath: str = "none", **overrides) -> Plan:
    plan = PAYMENTS[payment][1](draw)
    if payment in CAPTURING:
        plan = replace(plan, **AFTERMATHS[aftermath][1](draw))
    return replace(plan, **overrides)


def random_plan(rng: random.Random) -> Plan:
    draw = Draw(rng)
    return compose(draw, _pick(rng, PAYMENTS), _pick(rng, AFTERMATHS), livemode=rng.random() >= TEST_MODE_SHARE)


# -- guaranteed scenarios ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Forced:
    """A purchase made on `day` of the window (negative: counted back from the last day)."""

    day: int
    payment: str = "paid"
    aftermath: str = "none"
    package: int = 1
    """Index into the currency's packages (0 is the one-hour trial)."""
    overrides: dict = field(default_factory=dict)

    def plan(self, rng: random.Random) -> Plan:
        return compose(Draw(rng, forced=True), self.payment, self.aftermath, **self.overrides)


@dataclass(frozen=True)
class ForcedFamily:
    currency: str
    purchases: tuple[Forced, ...]


FORCED_FAMILIES: tuple[ForcedFamily, ...] = (
    ForcedFamily("usd", (
        Forced(0, "declined"),
        Forced(1, "blocked"),
        Forced(0, "recovered", overrides={"redeliver": frozenset({"charge.succeeded"})}),
        Forced(1, "authorized_then_captured"),
        Forced(0, "authorized_never_captured"),  # expires on day 7
    )),
    ForcedFamily("usd", (
        Forced(0, aftermath="full_refund"),
        Forced(1, aftermath="partial_refund"),
        Forced(0, aftermath="two_partial_refunds"),
        Forced(2, aftermath="failed_refund"),
    )),
    ForcedFamily("eur", (Forced(0, aftermath="dispute_won"), Forced(0, aftermath="dispute_lost"))),
    ForcedFamily("gbp", (Forced(1, aftermath="inquiry"), Forced(0, aftermath="disputed_twice"))),
    ForcedFamily("jpy", (Forced(0, package=0), Forced(-4, aftermath="dispute_won"))),  # the latter still open
    ForcedFamily("kwd", (Forced(0, package=2), Forced(2, overrides={"disagreement": "amount_mismatch"}))),
    ForcedFamily("brl", (
        Forced(1, overrides={"disagreement": "charge_without_purchase"}),
        Forced(1, "declined", overrides={"disagreement": "completed_but_failed"}),
        Forced(2, overrides={"livemode": False}),
    )),
)
