"""The shape the dbt models rely on, checked before an event may change a state table.

Each rule names a field of a Stripe object and what the models do with it (cast to bigint, to a timestamp,
branch on its status, join its currency to the seed). An object that breaks a rule would fail `dbt build` on
every refresh, so processing holds its event back as `failed` with the message of the first broken rule, and
the other events go on. The checks run in Postgres over the batch in one statement, so the payloads never
leave the database: docs/benchmarks.md measures what they cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ingest.currencies import HOW_TO_ADD, read_seed

MAX_UNIX_SECONDS = 253402300799
"""9999-12-31T23:59:59Z: the last second Python's datetime (and so every shell) can show."""


@dataclass(frozen=True)
class Rule:
    path: str
    """a dotted path inside the object"""
    kind: str
    """integer, int4, timestamp, boolean, status, currency"""
    required: bool = True

    @property
    def value(self) -> str:
        return f"obj #> '{{{self.path.replace('.', ',')}}}'"


WANT = {
    "integer": "an integer",
    "int4": "an integer below 2^31",
    "timestamp": f"a unix timestamp from 0 to {MAX_UNIX_SECONDS}",
    "boolean": "true or false",
    "status": "one of {statuses}",
    "currency": "a currency of dbt/seeds/currencies.csv: {how_to_add}",
}


def _optional(*rules: Rule) -> tuple[Rule, ...]:
    return tuple(Rule(rule.path, rule.kind, required=False) for rule in rules)


def _the_money(*amounts: str) -> tuple[Rule, ...]:
    """An object a mart counts money of: id (the state table's key), amounts, currency and creation time, all
    needed by the marts' not-null contracts."""
    return (Rule("id", "string"), *(Rule(amount, "integer") for amount in amounts), Rule("currency", "currency"),
            Rule("created", "timestamp"))


# Mirrors the typed reads of dbt/models/staging/stripe/*.sql and the not-null contracts of the marts built on
# them: a field is required only where a mart needs it (fct_charges reads a missing amount_refunded as 0).
RULES: dict[str, tuple[Rule, ...]] = {
    "charge": (
        *_the_money("amount"), Rule("status", "status"),
        *_optional(Rule("amount_captured", "integer"), Rule("amount_refunded", "integer"),
                   Rule("captured", "boolean"), Rule("disputed", "boolean"), Rule("outcome.risk_score", "int4")),
    ),
    "payment_intent": (
        *_the_money("amount"), Rule("status", "status"),
        *_optional(Rule("amount_capturable", "integer"), Rule("amount_received", "integer"),
                   Rule("canceled_at", "timestamp")),
    ),
    "dispute": (
        *_the_money("amount"), Rule("status", "status"), Rule("charge", "string"),
        *_optional(Rule("is_charge_refundable", "boolean"), Rule("evidence_details.due_by", "timestamp"),
                   Rule("evidence_details.has_evidence", "boolean"), Rule("evidence_details.past_due", "boolean"),
                   Rule("evidence_details.submission_count", "int4")),
    ),
    # Refunds are informational (money refunded is read from the charge) and balance transactions add up fees.
    "refund": (Rule("id", "string"), *_optional(Rule("amount", "integer"), Rule("currency", "currency"),
                                                Rule("created", "timestamp"), Rule("status", "status"))),
    "balance_transaction": (Rule("id", "string"), *_optional(
        Rule("amount", "integer"), Rule("fee", "integer"), Rule("net", "integer"), Rule("currency", "currency"),
        Rule("created", "timestamp"))),
    # stg_stripe__payouts casts these; fct_payouts' contract needs the money, currency and status.
    "payout": (*_the_money("amount"), Rule("status", "string"),
               *_optional(Rule("arrival_date", "timestamp"), Rule("automatic", "boolean"))),
    # stg_stripe__events reads every event's object `created`, whatever the object.
    "event object": _optional(Rule("created", "timestamp")),
}

STATUSES: dict[str, tuple[str, ...]] = {
    "charge": ("pending", "failed", "succeeded"),
    "payment_intent": ("requires_payment_method", "requires_confirmation", "requires_action", "processing",
                       "requires_capture", "succeeded", "canceled"),
    "refund": ("pending", "requires_action", "succeeded", "failed", "canceled"),
    "dispute": ("warning_needs_response", "warning_under_review", "warning_closed", "needs_response",
                "under_review", "won", "lost", "prevented"),
}
"""The statuses the staging contracts accept (their check constraints); a test keeps them equal."""


def _is_integer(value: str, digits: int) -> str:
    # No exponent or fraction: Postgres casts neither 1e3 nor 1.0 to bigint. 18 digits stay inside bigint.
    return f"(jsonb_typeof({value}) = 'number' and ({value})::text ~ '^-?[0-9]{{1,{digits}}}$')"


def _integer_between(value: str, digits: int, low: int, high: int) -> str:
    # A case, because Postgres may evaluate the operands of `and` in any order and the cast would then fail.
    within = f"({value})::text::bigint between {low} and {high}"
    return f"(case when {_is_integer(value, digits)} then {within} else false end)"


def _valid(rule: Rule, kind_of_object: str) -> str:
    value = rule.value
    text = f"({value} #>> '{{}}')"
    if rule.kind == "integer":
        return _is_integer(value, 18)
    if rule.kind == "int4":
        return _integer_between(value, 10, -(2**31), 2**31 - 1)
    if rule.kind == "timestamp":
        return _integer_between(value, 18, 0, MAX_UNIX_SECONDS)
    if rule.kind == "boolean":
        return f"(jsonb_typeof({value}) = 'boolean')"
    if rule.kind == "string":
        return f"(jsonb_typeof({value}) = 'string')"
    if rule.kind == "status":
        statuses = ", ".join(f"'{status}'" for status in STATUSES[kind_of_object])
        return f"(jsonb_typeof({value}) = 'string' and {text} in ({statuses}))"
    if rule.kind == "currency":
        return f"(jsonb_typeof({value}) = 'string' and lower({text}) = any(:currencies))"
    raise ValueError(f"unknown rule kind {rule.kind!r}")


def _want(rule: Rule, kind_of_object: str) -> str:
    if rule.kind == "string":
        return "a string"
    return WANT[rule.kind].format(statuses=", ".join(STATUSES.get(kind_of_object, ())),
                                  how_to_add=HOW_TO_ADD.format(code="<code>"))


def _message(rule: Rule, kind_of_object: str) -> str:
    """SQL: '<object> <id> <field> is <value>, want <...>', or null when the rule holds."""
    missing = f"jsonb_typeof({rule.value}) is null or jsonb_typeof({rule.value}) = 'null'"
    shown = f"left(({rule.value})::text, 80)"
    want = _want(rule, kind_of_object).replace("'", "''")
    if rule.kind == "currency":
        want = f"' || replace('{want}', '<code>', coalesce(lower({rule.value} #>> '{{}}'), '?')) || '"
    broken = f"not coalesce({_valid(rule, kind_of_object)}, false)"
    if not rule.required:
        broken = f"not ({missing}) and {broken}"
    return (f"case when {broken} then '{kind_of_object} ' || coalesce(obj ->> 'id', '(no id)') || "
            f"' {rule.path} is ' || case when {missing} then 'missing' else {shown} end || ', want {want}' end")


# Where each kind of object sits in an event: the same JSON paths processing reads (ingest/processing.py).
OBJECT_PATHS = (
    ("charge", "charge", "$.data.object"),
    ("payment_intent", "payment_intent", "$.data.object"),
    ("refund", "refund", "$.data.object"),
    ("dispute", "dispute", "$.data.object"),
    ("balance_transaction", "balance_transaction", "$.data.object"),
    ("dispute", "balance_transaction", "$.data.object.balance_transactions[*]"),
    ("payout", "payout", "$.data.object"),
)


def _checks() -> str:
    branches = []
    for kind_of_object, rules in RULES.items():
        messages = ", ".join(_message(rule, kind_of_object) for rule in rules)
        branches.append(f"when '{kind_of_object}' then array[{messages}]")
    return f"case kind {' '.join(branches)} end"


VALIDATE = sa.text(f"""
    with events as materialized (
        select event_id, object_type, payload -> 'data' -> 'object' as event_object
        from raw.stripe_events
        where event_id = any(:event_ids)
    ),
    objects as (
        select event_id, 'event object' as kind, event_object as obj from events
        union all
        select events.event_id, paths.kind, obj
        from events
        join (values {", ".join(f"('{t}', '{k}', '{p.replace('$.data.object', '$')}'::jsonpath)"
                                for t, k, p in OBJECT_PATHS)}) as paths (object_type, kind, path) using (object_type)
        cross join lateral jsonb_path_query(events.event_object, paths.path) as obj
        where jsonb_typeof(obj) = 'object'
    )
    select distinct on (event_id) event_id, message
    from objects
    cross join lateral unnest({_checks()}) with ordinality as checks (message, rule_number)
    where message is not null
    order by event_id, kind = 'event object', rule_number
""")


def invalid_events(conn: sa.Connection, event_ids: list[str]) -> dict[str, str]:
    """event id -> what is wrong with it (the first broken rule), for the events in `event_ids` that break one."""
    if not event_ids:
        return {}
    rows = conn.execute(VALIDATE, {"event_ids": event_ids, "currencies": sorted(read_seed())})
    return {event_id: message for event_id, message in rows}
