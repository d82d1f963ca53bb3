"""The shape the dbt models rely on, checked before an event may change a state table.

Each rule names a field of a Stripe object and what the models do with it (cast to bigint, to a timestamp,
branch on its status, join its currency to the seed). An object that breaks a rule would fail `dbt build` on
every refresh, so processing holds its event back as `failed` with the message of the first broken rule, and
the other events go on. The checks are part of the statement that applies a batch (ingest/processing.py): they
read the objects that statement extracts for the state tables anyway, so the payloads are read once and never
leave the database. docs/benchmarks.md measures what the checks cost.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.currencies import HOW_TO_ADD, read_seed

MAX_UNIX_SECONDS = 253402300799
"""9999-12-31T23:59:59Z: the last second Python's datetime (and so every shell) can show."""

EVENT_OBJECT = "event object"
"""The kind of an event's `data.object` when no state table models it."""


@dataclass(frozen=True)
class Rule:
    path: str
    """a dotted path inside the object"""
    kind: str
    """integer, int4, timestamp, boolean, status, currency"""
    required: bool = True

    @property
    def value(self) -> str:
        """SQL: the field's jsonb value (null when missing)."""
        return "obj" + "".join(f" -> '{key}'" for key in self.path.split("."))

    @property
    def text(self) -> str:
        """SQL: the field's value as text."""
        *parents, key = self.path.split(".")
        return "obj" + "".join(f" -> '{parent}'" for parent in parents) + f" ->> '{key}'"


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
    # stg_stripe__events reads every event's object `created`, whatever the object. The kinds above check it
    # themselves (a test keeps it so), so processing gives this kind only to objects no state table models.
    EVENT_OBJECT: _optional(Rule("created", "timestamp")),
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


def _number_between(value: str, low: int, high: int) -> str:
    # Scale 0 is what the models' bigint reads need: jsonb prints a number as its numeric with that scale, so
    # 1.0 prints "1.0" and fails `::bigint` while 1e3 prints "1000". Casting a JSON number to numeric cannot fail.
    return f"scale(({value})::numeric) = 0 and ({value})::numeric between {low} and {high}"


def _json_type_and_condition(rule: Rule, kind_of_object: str) -> tuple[str, str]:
    """The JSON type the field must have, and what else its value must satisfy (SQL over `rule.value`)."""
    value = rule.value
    if rule.kind == "integer":
        # 18 digits stay inside bigint.
        return "number", _number_between(value, -(10**18 - 1), 10**18 - 1)
    if rule.kind == "int4":
        return "number", _number_between(value, -(2**31), 2**31 - 1)
    if rule.kind == "timestamp":
        return "number", _number_between(value, 0, MAX_UNIX_SECONDS)
    if rule.kind in ("boolean", "string"):
        return rule.kind, "true"
    if rule.kind == "status":
        statuses = ", ".join(f"'{status}'" for status in STATUSES[kind_of_object])
        return "string", f"({rule.text}) in ({statuses})"
    if rule.kind == "currency":
        return "string", f"lower({rule.text}) = any(:currencies)"
    raise ValueError(f"unknown rule kind {rule.kind!r}")


def _holds(rule: Rule, kind_of_object: str) -> str:
    """SQL, never null: whether the object keeps the rule. A missing field and JSON null are alike to the models."""
    json_type, condition = _json_type_and_condition(rule, kind_of_object)
    # A simple case reads the field's type once; the checks below it run only on a value of the right type.
    return (f"case coalesce(jsonb_typeof({rule.value}), 'null') when '{json_type}' then {condition} "
            f"when 'null' then {'false' if rule.required else 'true'} else false end")


def _want(rule: Rule, kind_of_object: str) -> str:
    if rule.kind == "string":
        return "a string"
    return WANT[rule.kind].format(statuses=", ".join(STATUSES.get(kind_of_object, ())),
                                  how_to_add=HOW_TO_ADD.format(code="<code>"))


def _message(rule: Rule, kind_of_object: str) -> str:
    """SQL: '<object> <id> <field> is <value>, want <...>', or null when the rule holds."""
    missing = f"coalesce(jsonb_typeof({rule.value}), 'null') = 'null'"
    shown = f"left(({rule.value})::text, 80)"
    want = _want(rule, kind_of_object).replace("'", "''")
    if rule.kind == "currency":
        want = f"' || replace('{want}', '<code>', coalesce(lower({rule.text}), '?')) || '"
    return (f"case when not ({_holds(rule, kind_of_object)}) then '{kind_of_object} ' || "
            f"coalesce(obj ->> 'id', '(no id)') || ' {rule.path} is ' || "
            f"case when {missing} then 'missing' else {shown} end || ', want {want}' end")


def _by_kind(expression_of_rules) -> str:
    branches = " ".join(f"when '{kind_of_object}' then {expression_of_rules(kind_of_object, rules)}"
                        for kind_of_object, rules in RULES.items())
    return f"case kind {branches} end"


def _all_hold(kind_of_object: str, rules: tuple[Rule, ...]) -> str:
    return " and ".join(f"({_holds(rule, kind_of_object)})" for rule in rules)


def _messages(kind_of_object: str, rules: tuple[Rule, ...]) -> str:
    return f"array[{', '.join(_message(rule, kind_of_object) for rule in rules)}]"


HELD_BACK = f"""
    select distinct on (event_id) event_id, message
    from objects
    cross join lateral unnest({_by_kind(_messages)}) with ordinality as checks (message, rule_number)
    -- Only an object breaking a rule gets its messages built: testing every rule once is all most objects cost.
    where not ({_by_kind(_all_hold)}) and message is not null
    order by event_id, kind = '{EVENT_OBJECT}', rule_number
"""
"""SQL over `objects` (event_id, kind, obj: every object of a batch's events, see ingest/processing.py): each event
with a broken rule, and the message of its first; `:currencies` are the seed's codes."""


def seed_currencies() -> list[str]:
    """The `:currencies` of HELD_BACK: read at each batch, so a row added to the seed counts at the next retry."""
    return sorted(read_seed())
