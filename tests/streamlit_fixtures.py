"""A real embedded Postgres holding `analytics.payments_daily` rows whose figures the Streamlit tests know.

Test modules load it with `pytest_plugins = ["streamlit_fixtures"]`, so one warehouse serves them all,
and import its constants too; having no asserts, it opts out of pytest's rewriting (which would warn that
the module was imported before the plugin): PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from payops import db
from payops.settings import Settings
from payops.users import add_user, disable_user

APP_PATH = Path(__file__).resolve().parents[1] / "streamlit_app" / "app.py"
SERVER_PATH = APP_PATH.with_name("server.py")
"""What `streamlit run` starts: the app plus the streamed CSV's route."""
TIMEZONE = "America/Sao_Paulo"
EXPONENTS = {"usd": 2, "eur": 2, "gbp": 2, "brl": 2, "jpy": 0, "kwd": 3}
LAST_LIVE_DAY = date(2026, 3, 31)
DEFAULT_FIRST_DAY = date(2026, 3, 2)
"""The page's default range is the 30 days ending on the last live day: 2 March to 31 March."""
NO_MART_DATABASE = "payops_no_mart"
ANALYST, ADMIN, DISABLED, UNKNOWN = "analyst@example.com", "admin@example.com", "gone@example.com", "who@example.com"
"""Who signs in: an active analyst and admin, a disabled analyst, and an email ops.users never heard of."""


def add_app_users(eng: sa.Engine) -> None:
    """The users of every role boundary test, as `payops users add` and `disable` would leave them."""
    add_user(eng, ANALYST, "analyst", added_by="tests")
    add_user(eng, ADMIN, "admin", added_by="tests")
    add_user(eng, DISABLED, "analyst", added_by="tests")
    disable_user(eng, DISABLED)


def signed_in(email: str | None) -> dict:
    """AppTest's `user` for a visitor: anonymous for None, else signed in through the identity provider."""
    return {"is_logged_in": False} if email is None else {"is_logged_in": True, "email": email}


@dataclass(frozen=True)
class PaymentDay:
    day: date
    currency: str
    livemode: bool
    attempts: int
    succeeded: int
    gross_minor: int
    refunded_minor: int = 0
    dispute_loss_minor: int = 0
    dispute_fee_minor: int = 0

    @property
    def net_minor(self) -> int:
        return self.gross_minor - self.refunded_minor - self.dispute_loss_minor

    def major(self, minor: int) -> Decimal:
        return Decimal(minor) / 10 ** EXPONENTS[self.currency]

    def as_mart_row(self) -> dict:
        return {
            "day": self.day,
            "currency": self.currency,
            "livemode": self.livemode,
            "charge_attempts": self.attempts,
            "charges_succeeded": self.succeeded,
            "charges_failed": self.attempts - self.succeeded,
            "attempt_success_rate": Decimal(self.succeeded) / self.attempts,
            **{f"{name}_amount": self.major(minor) for name, minor in self.amounts_minor.items()},
            **{f"{name}_amount_minor": minor for name, minor in self.amounts_minor.items()},
        }

    @property
    def amounts_minor(self) -> dict[str, int]:
        return {
            "gross": self.gross_minor,
            "refunded": self.refunded_minor,
            "dispute_loss": self.dispute_loss_minor,
            "net": self.net_minor,
            "dispute_fee": self.dispute_fee_minor,
        }


PAYMENT_DAYS = [
    PaymentDay(LAST_LIVE_DAY, "usd", True, attempts=10, succeeded=8, gross_minor=125_050, refunded_minor=10_000),
    PaymentDay(date(2026, 3, 15), "usd", True, 5, 5, 99_999, dispute_loss_minor=5_000, dispute_fee_minor=1_500),
    PaymentDay(DEFAULT_FIRST_DAY, "usd", True, 2, 1, 3_000),
    PaymentDay(date(2026, 3, 1), "usd", True, 7, 7, 70_000, refunded_minor=700),  # a day before the default range
    PaymentDay(date(2026, 3, 30), "eur", True, 4, 3, 45_678, refunded_minor=1_234),
    PaymentDay(date(2026, 3, 29), "jpy", True, 6, 5, 1_234_567, refunded_minor=4_567),
    PaymentDay(date(2026, 3, 28), "kwd", True, 3, 2, 12_345, refunded_minor=1_005),
    PaymentDay(date(2026, 3, 20), "usd", False, 3, 3, 1_000_000),  # test mode, inside the range
    PaymentDay(date(2026, 4, 5), "gbp", False, 2, 1, 5_000),  # test mode only, after the last live day
]

CREATE_PAYMENTS_DAILY = """
create table analytics.payments_daily (
    day date not null,
    currency text not null,
    livemode boolean not null,
    charge_attempts bigint not null,
    charges_succeeded bigint not null,
    charges_failed bigint not null,
    attempt_success_rate numeric,
    gross_amount numeric not null,
    gross_amount_minor bigint not null,
    refunded_amount numeric not null,
    refunded_amount_minor bigint not null,
    dispute_loss_amount numeric not null,
    dispute_loss_amount_minor bigint not null,
    net_amount numeric not null,
    net_amount_minor bigint not null,
    dispute_fee_amount numeric not null,
    dispute_fee_amount_minor bigint not null,
    primary key (day, currency, livemode)
)
"""


@dataclass(frozen=True)
class SeededWarehouse:
    env: dict[str, str]
    """PAYOPS_* variables that point the app at the seeded warehouse."""
    no_mart_url: str
    """A database on the same server where no mart was ever built."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def seeded_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededWarehouse]:
    env = {"PAYOPS_HOME": str(tmp_path_factory.mktemp("payops_home")), "PAYOPS_TIMEZONE": TIMEZONE}
    # Settings from a dict, not os.environ: a session-wide PAYOPS_HOME would leak into unrelated tests.
    settings = Settings.from_env(env)
    eng = db.ready_engine(settings)
    add_app_users(eng)
    try:
        with eng.begin() as conn:
            conn.execute(sa.text(CREATE_PAYMENTS_DAILY))
            rows = [payment_day.as_mart_row() for payment_day in PAYMENT_DAYS]
            columns = ", ".join(rows[0])
            values = ", ".join(f":{column}" for column in rows[0])
            conn.execute(sa.text(f"insert into analytics.payments_daily ({columns}) values ({values})"), rows)
            conn.execute(
                sa.text("create table analytics.currencies (currency text primary key, exponent integer not null)")
            )
            conn.execute(
                sa.text("insert into analytics.currencies (currency, exponent) values (:currency, :exponent)"),
                [{"currency": code.upper(), "exponent": exponent} for code, exponent in EXPONENTS.items()],
            )
        with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f"create database {NO_MART_DATABASE}"))
        no_mart_url = db.warehouse_url(settings).set(database=NO_MART_DATABASE)
        yield SeededWarehouse(env=env, no_mart_url=no_mart_url.render_as_string(hide_password=False))
    finally:
        eng.dispose()
        db.stop_embedded(settings)


@pytest.fixture
def warehouse_env(seeded_warehouse: SeededWarehouse, monkeypatch: pytest.MonkeyPatch) -> SeededWarehouse:
    """The process environment pointed at the seeded warehouse, whatever the developer's shell exports."""
    for name in ("WAREHOUSE_URL", "APP_DATABASE_URL", "DAGSTER_PG_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in seeded_warehouse.env.items():
        monkeypatch.setenv(name, value)
    return seeded_warehouse
