"""Deterministic demo data: the tutoring platform's tables and the Stripe events its purchases produced.

`generate_demo_data` DROPS AND RECREATES the platform's tables in schema `app` (it is demo data) and replaces
the generated event files in the landing folder. Everything streams: families are made one at a time, each
student's purchases are played out on Stripe and written as they finish, app rows go out in COPY batches and
events through an on-disk arrival sort, so a million events need no more memory than a thousand.

The same (seed, days, students, end) always gives byte-identical files and identical tables. The rare
scenarios are forced onto the first seven families (demo.plans.FORCED_FAMILIES), so every set of 14 days or
more and 21 students or more holds each of them at least once; the deliberate disagreements between the app and
Stripe are listed on the returned DemoSummary.
"""

from __future__ import annotations

import random
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, NamedTuple

import orjson
from tqdm import tqdm

from demo.app_tables import AppTables, DiscardedTables
from demo.catalog import PACKAGE_WEIGHTS, PACKAGES, Package, packages_in
from demo.delivery import ArrivalOrder, open_sink, publish
from demo.ids import StripeIds
from demo.ledger import FeeSchedule, Ledger, payout_event
from demo.lifecycle import Deliver, Outcome, Purchase, PurchaseLifecycle, World, receipt_number, utc
from demo.money import to_major, to_minor
from demo.people import DAY, Family, Student, families, new_card
from demo.plans import FORCED_FAMILIES, Forced, Plan, random_plan
from payops.db import app_engine
from payops.settings import Settings

MEAN_DAYS_BETWEEN_PURCHASES = 15
HOURS_VALID_FOR = timedelta(days=180)
COUPON = Decimal("0.9")
"""The amount_mismatch disagreement: a 10 % coupon applied at checkout that the app never recorded."""


class Disagreement(NamedTuple):
    kind: Literal["completed_but_failed", "charge_without_purchase", "amount_mismatch"]
    purchase_id: int | None
    charge_id: str | None


@dataclass
class DemoSummary:
    events_written: int
    """Including duplicate deliveries."""
    unique_events: int
    files: int
    app_rows: dict[str, int]
    """Rows per app table; empty when write_app=False."""
    out_dir: Path
    disagreements: list[Disagreement] = field(default_factory=list)


def generate_demo_data(
    settings: Settings,
    *,
    days: int = 90,
    students: int = 500,
    seed: int = 7,
    end: date | None = None,
    out_dir: Path | None = None,
    fmt: Literal["jsonl", "files"] = "jsonl",
    progress: bool = True,
    write_app: bool = True,
    fees: FeeSchedule | None = None,
    balance_dir: Path | None = None,
) -> DemoSummary:
    """Write `days` days (ending on `end`, UTC; default today) of purchases by `students` students: the app's
    tables (dropped and recreated) and the Stripe events, as JSON Lines or one file per event, into `out_dir`
    (default settings.stripe_landing_dir); and the live balance (transactions under `fees`, default
    FeeSchedule(), and payout itemizations) into `balance_dir` (default settings.stripe_balance_landing_dir)."""
    if days < 1 or students < 1:
        raise ValueError("days and students must be at least 1")
    last_day = end or datetime.now(UTC).date()
    out_dir = Path(out_dir or settings.stripe_landing_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tables = AppTables(app_engine(settings)) if write_app else DiscardedTables()
    rng = random.Random(seed)
    # Written beside the landing folder (same file system), moved in at the end: a failure deletes nothing.
    with tempfile.TemporaryDirectory(prefix=".demo-sort-", dir=out_dir.parent) as work:
        sink = open_sink(Path(work) / "out", fmt)
        # Its own generator, so delivery choices never shift the data's.
        arrivals = ArrivalOrder(random.Random(f"{seed}:delivery"), Path(work))
        with tables, tqdm(desc="demo events", unit=" events", disable=not progress, file=sys.stderr) as bar:
            def deliver(event: dict[str, Any], *, late_by: int | None, twice: bool) -> None:
                arrivals.deliver(event, late_by=late_by, twice=twice)
                bar.update()

            platform = Platform(rng, deliver, tables, last_day=last_day, days=days, fees=fees or FeeSchedule())
            platform.add_packages()
            for family in families(rng, platform.world.ids, students=students, start=platform.start,
                                   year=last_day.year, currencies=tuple(f.currency for f in FORCED_FAMILIES)):
                platform.add_family(family)
            platform.pay_out()
            platform.world.ledger.write(Path(balance_dir or settings.stripe_balance_landing_dir))
        with tqdm(total=arrivals.written, desc="writing", unit=" events", disable=not progress,
                  file=sys.stderr) as bar:
            for event_id, body in arrivals.arrivals():
                sink.write(event_id, body)
                bar.update()
        sink.close()
        publish(Path(work) / "out", out_dir)
    return DemoSummary(events_written=arrivals.written, unique_events=arrivals.unique, files=sink.files,
                       app_rows=dict(tables.counts), out_dir=out_dir, disagreements=platform.disagreements)


@dataclass
class Balance:
    """A student's live, completed purchases, for app.student_account_balances."""

    hours: Decimal = Decimal(0)
    paid: int = 0
    updated: int = 0


class Platform:
    """The platform's side: who buys what when, and the rows it keeps about it."""

    def __init__(self, rng: random.Random, deliver: Deliver, tables: AppTables | DiscardedTables, *,
                 last_day: date, days: int, fees: FeeSchedule) -> None:
        self.rng = rng
        self.days = days
        self.start = int(datetime.combine(last_day - timedelta(days=days - 1), time(), UTC).timestamp())
        end = self.start + days * DAY - 1
        ids = StripeIds(rng)
        self.world = World(rng=rng, ids=ids, deliver=deliver, end=end, ledger=Ledger(ids, fees, end))
        self.tables = tables
        self.disagreements: list[Disagreement] = []
        self._next_id = {table: 0 for table in ("purchase_transactions", "receipts", "stored_payment_methods")}
        self._year = last_day.year

    def pay_out(self) -> None:
        """The window's automatic payouts, once every purchase has moved its money."""
        def emit(t: int, type_: str, payout: dict[str, Any], previous: dict[str, Any] | None) -> None:
            self.world.deliver(payout_event(self.world.ids, t, type_, payout, previous), late_by=None, twice=False)

        self.world.ledger.run_payouts(emit, self.start // DAY, self.days)

    def _new_id(self, table: str) -> int:
        self._next_id[table] += 1
        return self._next_id[table]

    def add_packages(self) -> None:
        listed = utc(self.start - 400 * DAY)
        for p in PACKAGES:
            self.tables.add("lesson_packages", (p.id, p.name, p.hours, p.price, p.currency, True, listed, listed))

    def add_family(self, family: Family) -> None:
        created = utc(family.created)
        self.tables.add("families", (family.id, family.name, family.email, family.customer_id, created, created))
        forced = FORCED_FAMILIES[family.id - 1].purchases if family.id <= len(FORCED_FAMILIES) else ()
        for number, student in enumerate(family.students):
            self._add_student(family, student, forced[number :: len(family.students)])

    def _add_student(self, family: Family, student: Student, forced: tuple[Forced, ...]) -> None:
        joined = utc(student.created)
        self.tables.add("students", (student.id, family.id, student.name, student.email, joined, joined))
        for number, card in enumerate(student.cards):
            self.tables.add("stored_payment_methods", (
                self._new_id("stored_payment_methods"), student.id, card.payment_method_id, card.brand, card.last4,
                card.exp_month, card.exp_year, number == 0, True, utc(card.created), utc(card.created)))
        balance = Balance(updated=student.created)
        for when, plan, package in sorted(self._checkouts(family, forced), key=lambda c: c[0]):
            self._purchase(family, student, when, plan, package, balance)
        self._add_balance(family, student, balance)

    def _checkouts(self, family: Family, forced: tuple[Forced, ...]) -> list[tuple[int, Plan, Package]]:
        """The student's purchases: a Poisson stream over the window, plus any forced ones."""
        offered = packages_in(family.currency)
        checkouts = []
        t = self.start
        while (t := t + int(self.rng.expovariate(1 / (MEAN_DAYS_BETWEEN_PURCHASES * DAY)))) <= self.world.end:
            checkouts.append((t, random_plan(self.rng), self.rng.choices(offered, PACKAGE_WEIGHTS)[0]))
        for f in forced:
            day = min(max(f.day if f.day >= 0 else self.days + f.day, 0), self.days - 1)
            when = self.start + day * DAY + self.rng.randint(8 * 3_600, 20 * 3_600)
            checkouts.append((when, f.plan(self.rng), offered[f.package]))
        return checkouts

    def _purchase(self, family: Family, student: Student, when: int, plan: Plan, package: Package,
                  balance: Balance) -> None:
        price = to_minor(package.price, package.currency)
        charged = int(price * COUPON) if plan.disagreement == "amount_mismatch" else price
        has_row = plan.disagreement != "charge_without_purchase"
        purchase_id = self._new_id("purchase_transactions") if has_row else None
        metadata = {"student_id": str(student.id)}
        if purchase_id is not None:
            metadata = {"purchase_transaction_id": str(purchase_id)} | metadata
        if plan.livemode:
            customer_id, cards = family.customer_id, student.cards
        else:  # staff trying the checkout with test keys: a test-mode customer and Stripe's test card
            ids = self.world.ids
            customer_id, cards = ids.new("cus"), [new_card(self.rng, ids, "usd", when, self._year, test=True)]
        purchase = Purchase(
            id=purchase_id, student_id=student.id, package=package, amount=charged, currency=package.currency,
            livemode=plan.livemode, customer_id=customer_id, email=family.email, payer_name=family.name,
            card=cards[0], backup_card=cards[-1], description=f"{package.name} for {student.name}",
            metadata=metadata, capture_method=plan.capture_method, created=when,
        )
        outcome = PurchaseLifecycle(self.world, purchase, plan).run()
        if plan.disagreement is not None:
            self.disagreements.append(Disagreement(plan.disagreement, purchase_id, outcome.charge_id))
        if purchase_id is None:
            return
        status = "completed" if plan.disagreement == "completed_but_failed" else outcome.status
        self._add_purchase_rows(purchase, outcome, status, price)
        if status == "completed" and plan.livemode:
            balance.hours += package.hours
            balance.paid += price
            balance.updated = max(balance.updated, outcome.updated)

    def _add_purchase_rows(self, p: Purchase, outcome: Outcome, status: str, price: int) -> None:
        assert p.id is not None
        amount = to_major(price, p.currency)
        channel = self.rng.choice(("web", "web", "ios", "android"))
        self.tables.add("purchase_transactions", (
            p.id, p.student_id, p.package.id, "package", status, p.package.hours, amount, p.currency,
            outcome.payment_intent_id, outcome.charge_id, p.customer_id, p.livemode,
            utc(p.created) + HOURS_VALID_FOR, orjson.dumps({"channel": channel}).decode(), utc(p.created),
            utc(outcome.updated)))
        if status in ("completed", "refunded"):
            paid_at = outcome.paid_at or outcome.updated  # a 'completed' the app decided on its own has no payment
            self.tables.add("receipts", (
                self._new_id("receipts"), p.student_id, p.id, receipt_number(p.id, paid_at), amount, p.currency,
                utc(paid_at), status == "completed", utc(paid_at), utc(outcome.updated)))

    def _add_balance(self, family: Family, student: Student, balance: Balance) -> None:
        # Lessons are taken steadily after buying: a fifth to nine tenths of the hours are used, in half hours.
        consumed = Decimal(int(balance.hours * Decimal(self.rng.uniform(0.2, 0.9)) * 2)) / 2
        left = round(balance.paid * (balance.hours - consumed) / balance.hours) if balance.hours else 0
        self.tables.add("student_account_balances", (
            student.id, student.id, balance.hours, consumed, to_major(left, family.currency), family.currency,
            utc(student.created), utc(balance.updated)))
