"""Alert conditions read from the marts after each refresh: what finance and support must act on.

Each function returns the conditions that hold now; `Notifier.sync(MART_ALERT_KINDS, ...)` opens the new ones and
resolves the rest. A condition's key names the thing it is about, so a dispute alerts once when it opens and
once more when it stops needing a response.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from ingest.notify import Alert

EVIDENCE_DUE_WITHIN = timedelta(hours=48)
DISPUTE_RATIO_EARLY_SHARE = 0.8
"""A network's dispute ratio alerts at this share of its lowest program threshold, before the program applies."""
NEEDS_RESPONSE = ("needs_response", "warning_needs_response")

NEW_DISPUTES = sa.text("""
select dispute_id, amount, currency, reason, evidence_due_by, is_inquiry
from analytics.fct_disputes where status = any(:statuses)
""")
EVIDENCE_DUE = sa.text("""
select dispute_id, amount, currency, evidence_due_by
from analytics.fct_disputes
where status = any(:statuses) and evidence_due_by > now() and evidence_due_by <= now() + :within
""")
# The latest reporting day in the mart: a spike on an older day is history, not news.
FAILURE_SPIKES = sa.text("""
select day, currency, livemode, dimension, dimension_value, failed_attempts, share, baseline_share
from analytics.failure_analysis
where is_spike and day = (select max(day) from analytics.failure_analysis)
""")
RECONCILIATION_EXCEPTIONS = sa.text("""
select kind, coalesce(purchase_transaction_id, charge_id, payment_intent_id) as subject, app_value, stripe_value
from analytics.reconciliation_exceptions
""")
# The current month's ratio per network against the lowest ratio threshold any of its programs has in force.
DISPUTE_RATIOS = sa.text("""
with latest as (select max(month) as month from analytics.dispute_metrics),
lowest as (
    select network, min(ratio_threshold) as ratio_threshold
    from analytics.network_thresholds, latest
    where valid_from <= latest.month
    group by network
)
select m.network, m.livemode, m.month,
       case m.network when 'visa' then m.visa_ratio when 'mastercard' then m.mastercard_ratio end as ratio,
       lowest.ratio_threshold
from analytics.dispute_metrics m
join latest using (month)
join lowest using (network)
""")

FAILED_PAYOUTS = sa.text("""
select payout_id, amount, currency, failure_code, failure_message from analytics.fct_payouts where status = 'failed'
""")

MART_ALERT_KINDS = ("dispute", "evidence_due", "failure_spike", "reconciliation", "dispute_ratio", "payout_failed")


def _money(amount: object, currency: str) -> str:
    return f"{amount} {currency.upper()}"


def _when(moment: datetime | None) -> str:
    return "(no due date)" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def mart_alerts(engine: sa.Engine) -> list[Alert]:
    """Every mart condition that holds now; empty when the marts are not built yet."""
    with engine.connect() as conn:
        if conn.execute(sa.text("select to_regclass('analytics.fct_disputes')")).scalar() is None:
            return []
        alerts = [
            Alert(f"dispute:{row.dispute_id}", "warning",
                  f"new {'inquiry' if row.is_inquiry else 'dispute'} {row.dispute_id} ({row.reason}) for "
                  f"{_money(row.amount, row.currency)}: evidence due {_when(row.evidence_due_by)}",
                  details={"evidence_due_by": row.evidence_due_by})
            for row in conn.execute(NEW_DISPUTES, {"statuses": list(NEEDS_RESPONSE)})
        ]
        alerts += [
            Alert(f"evidence_due:{row.dispute_id}", "error",
                  f"evidence for dispute {row.dispute_id} ({_money(row.amount, row.currency)}) is due "
                  f"{_when(row.evidence_due_by)}, within 48 hours",
                  details={"evidence_due_by": row.evidence_due_by})
            for row in conn.execute(EVIDENCE_DUE, {"statuses": list(NEEDS_RESPONSE), "within": EVIDENCE_DUE_WITHIN})
        ]
        alerts += [
            Alert(f"failure_spike:{row.day}:{row.currency}:{row.livemode}:{row.dimension}:{row.dimension_value}",
                  "warning",
                  f"failure spike on {row.day}: {row.dimension} {row.dimension_value} has {row.failed_attempts} "
                  f"failed {row.currency.upper()} attempts, {float(row.share):.0%} of the day's failures "
                  f"(baseline {float(row.baseline_share or 0):.0%})",
                  value=float(row.share), threshold=float(row.baseline_share or 0))
            for row in conn.execute(FAILURE_SPIKES)
        ]
        alerts += [
            Alert(f"reconciliation:{row.kind}:{row.subject}", "warning",
                  f"reconciliation exception {row.kind} for {row.subject}: app {row.app_value}, "
                  f"Stripe {row.stripe_value}")
            for row in conn.execute(RECONCILIATION_EXCEPTIONS)
        ]
        alerts += [
            Alert(f"payout_failed:{row.payout_id}", "error",
                  f"payout {row.payout_id} of {_money(row.amount, row.currency)} failed ({row.failure_code}: "
                  f"{row.failure_message}); its funds are back in the Stripe balance")
            for row in conn.execute(FAILED_PAYOUTS)
        ]
        for row in conn.execute(DISPUTE_RATIOS):
            if row.ratio is None:
                continue
            ratio, threshold = float(row.ratio), float(row.ratio_threshold)
            if ratio < DISPUTE_RATIO_EARLY_SHARE * threshold:
                continue
            over = ratio >= threshold
            alerts.append(Alert(
                f"dispute_ratio:{row.network}:{'live' if row.livemode else 'test'}", "critical" if over else "error",
                f"{row.network} dispute ratio for {row.month:%Y-%m} is {ratio:.3%}, "
                f"{'above' if over else 'at 80 % of'} the {threshold:.2%} program threshold",
                value=ratio, threshold=threshold))
    return alerts
