"""Stripe's balance transactions, from its API (`GET /v1/balance_transactions`): Stripe sends no webhooks for them.

Like the Events API sync (ingest/stripe_sync.py), each run lists every transaction created since the cursor minus
an overlap, stores them (one row per txn id: a re-listed transaction replaces its row, so nothing counts twice),
and only then moves the cursor: a run that stops half way is simply run again.

Then each automatic payout that ended (paid, or failed and returned) and has no itemization yet is itemized:
`GET /v1/balance_transactions?payout=po_…` lists the transactions it carried, stored in
raw.stripe_payout_balance_transactions. Payouts themselves arrive as events (payout.*) and are processed into
raw.stripe_payouts like every other object.

Without a key, `load_balance_landing` stores what the demo generator listed ahead of time (the same objects, as
JSON Lines under Settings.stripe_balance_landing_dir) through the same functions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import sqlalchemy as sa
import stripe

from ingest.stripe_sync import advance_cursor, chunks, iso, read_cursor, stripe_client
from payops.errors import PayopsError
from payops.settings import Settings

log = logging.getLogger(__name__)

CURSOR_SOURCE = "stripe.balance_transactions_api"
DEFAULT_OVERLAP = timedelta(minutes=5)
TRANSACTIONS_PER_STORE = 1_000
ITEMIZED_STATUSES = ("paid", "failed")
"""A payout's transactions are final once it was paid, or failed and returned its funds."""
NO_KEY_MESSAGE = "STRIPE_API_KEY is not set: the balance transactions sync is skipped"
TRANSACTIONS_FILE = "balance_transactions.jsonl"
"""One balance transaction object per line, as `GET /v1/balance_transactions` lists them."""
ITEMIZATION_FILE = "payout_balance_transactions.jsonl"
"""One `{"payout": "po_…", "balance_transaction": "txn_…"}` per line, as `?payout=po_…` lists them."""

UPSERT_TRANSACTIONS = sa.text("""
    insert into raw.stripe_api_balance_transactions (id, livemode, object, created_at)
    select obj ->> 'id', :livemode, obj, to_timestamp((obj ->> 'created')::bigint)
    from jsonb_array_elements(cast(:objects as jsonb)) as obj
    on conflict (id) do update set
        livemode = excluded.livemode, object = excluded.object, created_at = excluded.created_at, updated_at = now()
    where stripe_api_balance_transactions.object is distinct from excluded.object
    returning (xmax = 0) as inserted
""")

STORE_ITEMIZATION = sa.text("""
    insert into raw.stripe_payout_balance_transactions (payout_id, balance_transaction_id)
    select :payout_id, unnest(cast(:transaction_ids as text[]))
    on conflict do nothing
""")

PAYOUTS_TO_ITEMIZE = sa.text("""
    select id from raw.stripe_payouts as payouts
    where livemode = :livemode
      and object ->> 'status' = any(:statuses)
      and (object ->> 'automatic')::boolean
      and not exists (select from raw.stripe_payout_balance_transactions as items where items.payout_id = payouts.id)
    order by id
""")


@dataclass
class BalanceSyncResult:
    skipped: bool = False
    message: str = ""
    listed: int = 0
    new: int = 0
    changed: int = 0
    """listed again with a different state (a pending transaction that became available)"""
    payouts_itemized: int = 0
    itemized_transactions: int = 0
    window_start: datetime | None = None
    cursor_before: datetime | None = None
    cursor_after: datetime | None = None
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.skipped:
            return self.message
        return (
            f"{self.listed} balance transaction(s) listed since {iso(self.window_start)}: {self.new} new, "
            f"{self.changed} changed; {self.payouts_itemized} payout(s) itemized "
            f"({self.itemized_transactions} transaction(s)); cursor {iso(self.cursor_before)} -> "
            f"{iso(self.cursor_after)}"
        )


class BalanceSyncInterrupted(PayopsError, RuntimeError):
    """Stripe failed part way; what was stored stays stored and the cursor did not move."""

    def __init__(self, partial: BalanceSyncResult, cause: Exception):
        self.partial = partial
        super().__init__(
            f"the balance transactions sync stopped after {partial.listed} transaction(s) listed and "
            f"{partial.payouts_itemized} payout(s) itemized: {cause}. The cursor stays at "
            f"{iso(partial.cursor_after)}, so the next run reads that window again."
        )


def livemode_of(api_key: str) -> bool:
    """Balance transactions carry no livemode: the key that listed them decides it (sk_live_…, rk_live_…)."""
    return "_live_" in api_key


def store_transactions(engine: sa.Engine, objects: list[dict], *, livemode: bool) -> tuple[int, int]:
    """Upsert balance transaction objects on their id; returns (new, changed). Committed when it returns."""
    if not objects:
        return 0, 0
    with engine.begin() as conn:
        inserted = list(conn.execute(UPSERT_TRANSACTIONS, {"objects": orjson.dumps(objects).decode(),
                                                           "livemode": livemode}).scalars())
    new = sum(inserted)
    return new, len(inserted) - new


def store_itemization(engine: sa.Engine, payout_id: str, transaction_ids: list[str]) -> None:
    with engine.begin() as conn:
        conn.execute(STORE_ITEMIZATION, {"payout_id": payout_id, "transaction_ids": transaction_ids})


def sync_balance(
    settings: Settings,
    engine: sa.Engine,
    *,
    overlap: timedelta = DEFAULT_OVERLAP,
    page_size: int = 100,
    client: stripe.StripeClient | None = None,
) -> BalanceSyncResult:
    """List balance transactions created since the cursor minus `overlap`, store them, move the cursor, then
    itemize the automatic payouts that ended. Skipped without STRIPE_API_KEY; raises BalanceSyncInterrupted
    when Stripe fails part way."""
    if client is None and not settings.stripe_api_key:
        log.info(NO_KEY_MESSAGE)
        return BalanceSyncResult(skipped=True, message=NO_KEY_MESSAGE)
    client = client or stripe_client(settings)
    livemode = livemode_of(settings.stripe_api_key or "")
    cursor = read_cursor(engine, CURSOR_SOURCE)
    result = BalanceSyncResult(cursor_before=cursor, cursor_after=cursor)
    # Stripe keeps balance transactions for good: a first sync reads the whole history.
    params: dict = {"limit": page_size}
    if cursor is not None:
        result.window_start = cursor - overlap
        params["created"] = {"gte": int(result.window_start.timestamp())}
    else:
        result.message = "first sync: reading every balance transaction Stripe holds"

    try:
        newest = _list_and_store(engine, client, params, livemode, result)
        if newest is not None:
            advance_cursor(engine, datetime.fromtimestamp(newest, UTC), CURSOR_SOURCE)
            result.cursor_after = read_cursor(engine, CURSOR_SOURCE)
        _itemize_ended_payouts(engine, client, livemode, page_size, result)
    except stripe.StripeError as exc:
        log.error("balance transactions sync interrupted: %s", exc)
        raise BalanceSyncInterrupted(result, exc) from exc
    log.info("balance transactions sync: %s", result.summary())
    return result


def _list_and_store(
    engine: sa.Engine, client: stripe.StripeClient, params: dict, livemode: bool, result: BalanceSyncResult
) -> int | None:
    """Store every listed transaction page by page; returns the newest `created` seen. Whatever was stored
    before a failure stays stored (the re-run has less to write); the caller moves the cursor only on success."""
    newest: int | None = None
    listing = client.v1.balance_transactions.list(params=params).auto_paging_iter()
    for chunk in chunks((txn.to_dict(for_json=True) for txn in listing), TRANSACTIONS_PER_STORE):
        _count(result, *store_transactions(engine, chunk, livemode=livemode), listed=len(chunk))
        newest = max([newest or 0, *(txn["created"] for txn in chunk)])
    return newest


def _itemize_ended_payouts(
    engine: sa.Engine, client: stripe.StripeClient, livemode: bool, page_size: int, result: BalanceSyncResult
) -> None:
    with engine.connect() as conn:
        payout_ids = list(conn.execute(PAYOUTS_TO_ITEMIZE, {"livemode": livemode,
                                                            "statuses": list(ITEMIZED_STATUSES)}).scalars())
    for payout_id in payout_ids:
        # Listed whole before anything is stored: a payout is itemized completely or not at all.
        listing = client.v1.balance_transactions.list(params={"payout": payout_id, "limit": page_size})
        carried = [txn.to_dict(for_json=True) for txn in listing.auto_paging_iter()]
        store_transactions(engine, carried, livemode=livemode)
        store_itemization(engine, payout_id, [txn["id"] for txn in carried])
        result.payouts_itemized += 1
        result.itemized_transactions += len(carried)


def load_balance_landing(engine: sa.Engine, folder: Path, *, livemode: bool = True) -> BalanceSyncResult:
    """Store balance transactions and payout itemizations listed ahead of time into `folder` (the demo's)."""
    result = BalanceSyncResult(message=f"loaded from {folder}")
    transactions, itemization = folder / TRANSACTIONS_FILE, folder / ITEMIZATION_FILE
    if transactions.exists():
        for chunk in chunks(_json_lines(transactions), TRANSACTIONS_PER_STORE):
            _count(result, *store_transactions(engine, chunk, livemode=livemode), listed=len(chunk))
    if itemization.exists():
        by_payout: dict[str, list[str]] = {}
        for item in _json_lines(itemization):
            by_payout.setdefault(item["payout"], []).append(item["balance_transaction"])
        for payout_id, transaction_ids in by_payout.items():
            store_itemization(engine, payout_id, transaction_ids)
            result.payouts_itemized += 1
            result.itemized_transactions += len(transaction_ids)
    return result


def _json_lines(path: Path) -> Iterator[dict]:
    with path.open("rb") as lines:
        yield from (orjson.loads(line) for line in lines if line.strip())


def _count(result: BalanceSyncResult, new: int, changed: int, *, listed: int) -> None:
    result.listed += listed
    result.new += new
    result.changed += changed
