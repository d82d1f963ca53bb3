"""What a report notebook (reports/*.ipynb) uses: analytics marts as pandas frames through a read-only
connection, money by currency exponent, the project's chart style, and `record` for headline figures.

    from payops import notebook as nb
    daily = nb.read_mart("payments_daily", start=first_day, end=next_month, currency="eur", livemode=True)
    nb.money(12345, "kwd")                            # '12.345 KWD'
    nb.record("net_amount", {"eur": Decimal("10.50")})  # into the rendered report's <period>.json
    # Summed and ranked in Postgres: only the rows a report shows cross the wire.
    nb.read_mart("fct_refunds", start=first_day, end=next_month, columns=["currency", "reason"],
                 aggregates={"refunds": ("refund_increment_id", "count"), "amount_minor": ("amount_minor", "sum")})
    nb.read_mart("fraud_signals", order_by=["-risk_score", "entity_id"], limit=10)

Notebooks read the `analytics` schema only: what the app shows is what the reports show.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from payops import db
from payops.errors import PayopsError
from payops.money import format_money, to_major
from payops.settings import Settings

SCHEMA = "analytics"
SIDECAR_ENV = "PAYOPS_REPORT_SIDECAR"
"""Set by the renderer for the notebook's kernel: the JSON file `record` writes to. Unset (a notebook opened in
JupyterLab) the figures are only kept in `recorded`."""
FALLBACK_EXPONENT = 2
"""Decimals shown for a currency the `analytics.currencies` seed does not list."""

PERIOD_COLUMNS = {
    "payments_daily": "day",
    "failure_analysis": "day",
    "fct_charges": "created_day",
    "fct_refunds": "refunded_day",
    "fct_disputes": "created_at",
    "fct_payment_intents": "created_at",
    "revenue_trends": "period_start",
    "dispute_metrics": "month",
    "webhook_health": "hour",
    "webhook_events_by_type": "hour",
    "held_back_events": "received_at",
    "reconciliation_exceptions": "first_seen_at",
    "fct_payouts": "arrival_date",
}
"""The column `start=`/`end=` filter on, per mart; other marts name theirs with `period_column=`."""
AGGREGATES = ("count", "sum", "min", "max")
"""What `read_mart(aggregates=)` computes in Postgres. No average: rates are re-aggregated from counts."""
INTEGER_TYPES = ("smallint", "integer", "bigint")

# The project's chart look: quiet axes, one colour per series from a colour-blind-safe palette, small PNGs.
PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D")
CHART_STYLE = {
    "figure.figsize": (8.0, 3.2),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.autolayout": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.6,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "font.family": "DejaVu Sans",
}

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
recorded: dict[str, Any] = {}
"""Every figure `record` was given in this kernel, also when no sidecar file is set."""


class MartMissing(PayopsError, LookupError):
    """The analytics table a report reads does not exist (yet); the message names it."""


@dataclass(frozen=True)
class Month:
    """A reporting month from a `YYYY-MM` period: its first day and the first day of the next."""

    first_day: date
    next_first_day: date

    @classmethod
    def parse(cls, period: str) -> Month:
        try:
            first = datetime.strptime(period, "%Y-%m").date()
        except ValueError:
            raise PayopsError(f"period {period!r} is not a month written YYYY-MM, such as 2026-06.") from None
        return cls(first, cls._shift(first, 1))

    @staticmethod
    def _shift(first: date, months: int) -> date:
        index = first.year * 12 + first.month - 1 + months
        return date(index // 12, index % 12 + 1, 1)

    def shifted(self, months: int) -> Month:
        first = self._shift(self.first_day, months)
        return Month(first, self._shift(first, 1))

    @property
    def period(self) -> str:
        return f"{self.first_day:%Y-%m}"

    @property
    def label(self) -> str:
        return f"{self.first_day:%B %Y}"


@dataclass(frozen=True)
class Scope:
    """A report's parameters as its sections use them: the month, the currency (or all), the mode."""

    month: Month
    currency: str
    timezone: str
    livemode: bool

    @classmethod
    def of(cls, period: str, currency: str, timezone: str, livemode: bool) -> Scope:
        return cls(Month.parse(period), currency.lower(), timezone, livemode)

    @property
    def mode(self) -> str:
        return "live" if self.livemode else "test"

    @property
    def currencies(self) -> str:
        return "every currency" if self.currency == "all" else self.currency.upper()

    def read(self, mart: str, within: Month | None | str = "month", **options: Any) -> pd.DataFrame:
        """`read_mart` in this scope's currency and mode, for its month, another `within`, or all rows (None)."""
        within = self.month if within == "month" else within
        bounds = {} if within is None else {"start": within.first_day, "end": within.next_first_day}
        return read_mart(mart, currency=self.currency, livemode=self.livemode, timezone=self.timezone,
                         **bounds, **options)


def show(markdown: str) -> None:
    """Prose in the report, built from figures: Markdown output, which the HTML keeps while code is hidden."""
    from IPython.display import Markdown, display

    display(Markdown(markdown))


def change(now: float, before: float) -> str:
    """Relative change as '+12.5%', or 'n/a' without a base to compare with."""
    return "n/a" if not before else f"{(now - before) / abs(before):+.1%}"


def money_column(frame: pd.DataFrame, minor: str = "amount_minor", currency: str = "currency") -> list[str]:
    """A frame's minor-unit amounts formatted in each row's own currency, for display."""
    return [money(amount, code) for amount, code in zip(frame[minor], frame[currency], strict=True)]


@cache
def _read_only_engine(settings: Settings) -> sa.Engine:
    # One engine per kernel and warehouse, checked once: a report asks for it for every mart it reads and every
    # amount it formats, and finding the embedded Postgres asks its server each time.
    url = db.warehouse_url(settings).render_as_string(hide_password=False)
    # Every transaction of this engine is read-only on the server: a notebook cannot change the warehouse.
    return db.connect_check(sa.create_engine(url, pool_pre_ping=True,
                                             connect_args={"options": "-c default_transaction_read_only=on"}))


def read_only_engine(settings: Settings | None = None) -> sa.Engine:
    """The warehouse (as PAYOPS_HOME / WAREHOUSE_URL say) through connections that cannot write."""
    return _read_only_engine(settings or Settings.from_env())


def mart_columns(name: str, settings: Settings | None = None) -> dict[str, str]:
    """Column name -> Postgres type of analytics.<name>; empty when the mart does not exist."""
    if not _IDENTIFIER.match(name):
        raise PayopsError(f"{name!r} is not a mart name (lowercase letters, digits and underscores).")
    with read_only_engine(settings).connect() as conn:
        rows = conn.execute(sa.text("""
            select column_name, data_type from information_schema.columns
            where table_schema = :schema and table_name = :name order by ordinal_position"""),
            {"schema": SCHEMA, "name": name}).all()
    return dict(rows)


def mart_exists(name: str, settings: Settings | None = None) -> bool:
    """Whether analytics.<name> is built: sections on marts still to come say "not available yet" instead."""
    return bool(mart_columns(name, settings))


def read_mart(
    name: str,
    start: date | str | None = None,
    end: date | str | None = None,
    currency: str | None = None,
    livemode: bool | None = None,
    *,
    columns: list[str] | None = None,
    aggregates: Mapping[str, tuple[str, str]] | None = None,
    order_by: list[str] | None = None,
    limit: int | None = None,
    period_column: str | None = None,
    timezone: str | None = None,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Rows of analytics.<name> as a pandas frame, read through a read-only connection.

    start (inclusive) and end (exclusive) filter the mart's period column (PERIOD_COLUMNS, or `period_column`);
    on a timestamp column they are days in `timezone` (default PAYOPS_TIMEZONE, the time zone the marts cut
    days in). currency (or None / "all") and livemode (or None: both) filter when the mart has the column.

    aggregates, named like pandas' named aggregation ({"refunds": ("refund_id", "count")}), are computed in
    Postgres per group of `columns` (one row for every filtered row when `columns` is None): a report that shows
    sums reads sums, not the rows summed. Sums of integer columns stay integers.
    order_by lists columns (or aggregate names), a leading "-" for descending; limit keeps that many rows.
    """
    settings = settings or Settings.from_env()
    available = mart_columns(name, settings)
    if not available:
        raise MartMissing(f"analytics.{name} does not exist yet: run `payops refresh` to build the marts.")
    selected = list(columns or ([] if aggregates else available))
    _check_columns(name, available, [*selected, *(column for column, _ in (aggregates or {}).values())])
    where, params = [], {"timezone": timezone or settings.timezone}
    if start is not None or end is not None:
        column = period_column or PERIOD_COLUMNS.get(name)
        if column not in available:
            raise PayopsError(f"analytics.{name} has no period column to filter on: pass period_column=.")
        bound = ("(cast(:{0} as timestamp) at time zone :timezone)" if available[column].startswith("timestamp")
                 else "cast(:{0} as date)")
        for param, operator, value in (("start", ">=", start), ("end", "<", end)):
            if value is not None:
                where.append(f'"{column}" {operator} {bound.format(param)}')
                params[param] = str(value)
    if currency not in (None, "all") and "currency" in available:
        where.append("currency = :currency")
        params["currency"] = currency.lower()
    if livemode is not None and "livemode" in available:
        where.append("livemode = :livemode")
        params["livemode"] = livemode
    # Names were checked against the catalog above, so quoting them is all the escaping they need.
    outputs = {column: available[column] for column in selected}
    expressions = [f'"{column}"' for column in selected]
    for alias, (column, function) in (aggregates or {}).items():
        if not _IDENTIFIER.match(alias) or alias in outputs:
            raise PayopsError(f"aggregate name {alias!r}: lowercase letters, digits and underscores, not a column "
                              f"of the result already.")
        if function not in AGGREGATES:
            raise PayopsError(f"aggregate {function!r} of {alias!r}: read_mart computes {', '.join(AGGREGATES)}.")
        expression = f'{function}("{column}")'
        if function == "sum" and available[column] in INTEGER_TYPES:
            expression = f"cast({expression} as bigint)"  # Postgres sums integers as numeric: Decimals in pandas
        expressions.append(f'{expression} as "{alias}"')
        outputs[alias] = "bigint" if function == "count" else available[column]
    sql = f'select {", ".join(expressions)} from {SCHEMA}."{name}"'
    if where:
        sql += " where " + " and ".join(where)
    if aggregates and selected:
        sql += " group by " + ", ".join(f'"{column}"' for column in selected)
    if order_by:
        sql += " order by " + ", ".join(_ordering(name, outputs, term) for term in order_by)
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise PayopsError(f"limit={limit!r}: a number of rows, 0 or more.")
        sql += f" limit {limit}"
    with read_only_engine(settings).connect() as conn:
        # read_sql_query, not read_sql: read_sql first asks the catalog whether the statement is a table name.
        frame = pd.read_sql_query(sa.text(sql), conn, params=params)
    for column in frame.columns:
        # Dates arrive as Python objects; make them datetimes so pandas can plot and group by them.
        if outputs[column] == "date":
            frame[column] = pd.to_datetime(frame[column])
    return frame


def _check_columns(name: str, available: Mapping[str, str], wanted: list[str]) -> None:
    unknown = [column for column in wanted if column not in available]
    if unknown:
        raise PayopsError(f"analytics.{name} has no column {', '.join(unknown)}; it has {', '.join(available)}.")


def _ordering(name: str, outputs: Mapping[str, str], term: str) -> str:
    """'-risk_score' -> '"risk_score" desc', after checking the name is a column of the result."""
    column = term.removeprefix("-")
    if column not in outputs:
        raise PayopsError(f"cannot order analytics.{name} by {column!r}: the result has {', '.join(outputs)}.")
    return f'"{column}" desc' if term.startswith("-") else f'"{column}"'


@cache
def _exponents(settings: Settings) -> dict[str, int]:
    with read_only_engine(settings).connect() as conn:
        if conn.execute(sa.text("select to_regclass('analytics.currencies')")).scalar() is None:
            return {}
        rows = conn.execute(sa.text("select lower(currency), exponent from analytics.currencies")).all()
    return {currency: int(exponent) for currency, exponent in rows}


def exponent(currency: str, settings: Settings | None = None) -> int:
    """The currency's minor-unit exponent from the dbt `currencies` seed (2 for one it does not list)."""
    return _exponents(settings or Settings.from_env()).get(currency.lower(), FALLBACK_EXPONENT)


def major(minor_units: int, currency: str) -> Decimal:
    """Minor units as exact major units of the currency: major(12345, 'jpy') == Decimal('12345')."""
    return to_major(minor_units, exponent(currency))


def money(minor_units: int, currency: str) -> str:
    """'1,234.56 EUR', '123,456 JPY', '12.345 KWD': the currency's own decimals, never a float."""
    return format_money(minor_units, currency, exponent(currency))


def use_chart_style() -> None:
    """The project's chart style for matplotlib (inline PNGs, which the rendered HTML embeds)."""
    import matplotlib as mpl
    from cycler import cycler
    from IPython import get_ipython

    mpl.rcParams.update({**CHART_STYLE, "axes.prop_cycle": cycler(color=PALETTE)})
    if get_ipython() is not None:
        from matplotlib_inline.backend_inline import InlineBackend, set_matplotlib_formats

        # figure.autolayout already fits each chart to its figure; the inline backend's default tight bounding box
        # would lay every chart out once more, to measure it, before drawing it.
        InlineBackend.instance().print_figure_kwargs = {"bbox_inches": None}
        set_matplotlib_formats("png")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)  # exact, as finance wants it
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def record(name: str, value: Any) -> None:
    """Keep a headline figure in the report's sidecar JSON (<period>.json beside the HTML).

    Decimals are written as strings, so money stays exact; mappings (currency -> figure) as JSON objects."""
    recorded[name] = _jsonable(value)
    sidecar = os.environ.get(SIDECAR_ENV)
    if not sidecar:
        return
    path = Path(sidecar)
    figures = json.loads(path.read_text()) if path.exists() else {}
    figures[name] = recorded[name]
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(figures, indent=2, sort_keys=True))
    temporary.replace(path)
