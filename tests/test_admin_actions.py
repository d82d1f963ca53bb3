"""Guarded admin actions against the real stripe SDK and a local Stripe: refusals before Stripe, exactly-once
refunds (50 concurrent submissions, a crash before the commit), Stripe's errors, limits, the append-only
hash-chained audit trail and `payops audit verify`."""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest
import sqlalchemy as sa
import stripe
from click.testing import CliRunner
from local_stripe import DECLINED, card, charge, mirror, open_dispute

from actions import service
from actions.audit import action_log, trail, verify_chain
from actions.disputes import (
    accept_dispute,
    current_draft,
    dispute_facts,
    due_warning,
    save_draft,
    submit_evidence,
    upload_evidence_file,
)
from actions.errors import ActionInvalid, ActionRefused
from actions.fraud import decide, describe_decision
from actions.guards import enroll_totp, verify_totp
from actions.local_stripe import serving as local_stripe_server
from actions.refunds import RefundForm, charge_facts, describe_refund, refund
from actions.retries import retry_payment, stored_payment_methods
from actions.service import Actions, new_idempotency_key
from actions.stripe_api import close_limiter, stripe_call_limiter
from payops.db import ready_engine
from payops.users import add_user
from payops_cli.main import main

ADMIN = "root@example.com"


@pytest.fixture(scope="module")
def stripe_url():
    with local_stripe_server() as url:
        yield url


@pytest.fixture(scope="module")
def actions(module_warehouse, stripe_url):
    settings = replace(module_warehouse, stripe_api_base=stripe_url)
    built = Actions(settings, ready_engine(settings))
    yield built
    built.close()


@pytest.fixture(scope="module")
def totp_secrets(actions):
    """Admins enrolled with TOTP; ADMIN has just verified a code."""
    secrets = {}
    for email in (ADMIN, "fresh@example.com", "stale@example.com", "busy@example.com"):
        add_user(actions.engine, email, "admin", added_by="test")
        secrets[email] = enroll_totp(actions.engine, actions.settings, email).secret
    add_user(actions.engine, "ana@example.com", "analyst", added_by="test")
    verify_totp(actions.engine, actions.writer, actions.settings, ADMIN, pyotp.TOTP(secrets[ADMIN]).now())
    with actions.engine.begin() as conn:  # a code verified six minutes ago: too old for money
        conn.execute(sa.text("insert into ops.totp_verifications (email, time_step, verified_at) "
                             "values ('stale@example.com', 1, now() - interval '6 minutes')"))
    return secrets


def server_refunds(actions: Actions, charge_id: str) -> list[str]:
    return [r.id for r in actions.stripe.v1.refunds.list({"limit": 100}).auto_paging_iter() if r.charge == charge_id]


def rows_for(actions: Actions, key: str) -> list[tuple]:
    with actions.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "select status, stripe_object_id, error from ops.admin_actions where idempotency_key = :k order by seq"),
            {"k": key})]


def form(charge_id: str, amount: str, reason: str | None = "requested_by_customer") -> RefundForm:
    return RefundForm(charge_id, amount, reason, new_idempotency_key())


def test_partial_then_full_refund_are_made_once_and_recorded(actions, totp_secrets):
    paid = charge(actions.stripe, actions.engine, 7550)
    partial = form(paid.id, "40.00")
    with actions.engine.connect() as conn:
        assert describe_refund(charge_facts(conn, paid.id), partial) == (
            f"refund EUR 40.00 of EUR 75.50 on {paid.id}, reason: requested_by_customer")

    first = refund(actions, ADMIN, partial)
    assert first.succeeded and first.stripe_object_id.startswith("re_") and not first.replayed
    assert actions.stripe.v1.refunds.retrieve(first.stripe_object_id).amount == 4000
    # Our own refund counts before its event arrives: 35.50 is left, not 75.50.
    with pytest.raises(ActionInvalid, match="EUR 35.51 is more than the EUR 35.50 still refundable"):
        refund(actions, ADMIN, form(paid.id, "35.51"))
    rest = refund(actions, ADMIN, form(paid.id, "35.50", "duplicate"))
    assert rest.succeeded
    assert sorted(server_refunds(actions, paid.id)) == sorted([first.stripe_object_id, rest.stripe_object_id])
    assert rows_for(actions, partial.idempotency_key) == [("requested", None, None),
                                                          ("succeeded", first.stripe_object_id, None)]

    again = refund(actions, ADMIN, partial)  # a reload of the first form
    assert again.replayed and again.stripe_object_id == first.stripe_object_id
    assert len(server_refunds(actions, paid.id)) == 2


def test_every_wrong_refund_is_refused_before_stripe(actions, stripe_url, totp_secrets):
    paid = charge(actions.stripe, actions.engine, 7550)
    yen = charge(actions.stripe, actions.engine, 1000, currency="jpy")
    disputed = charge(actions.stripe, actions.engine, 5000)
    open_dispute(stripe_url, actions.engine, disputed.id, is_charge_refundable="false")
    declined = paid.to_dict() | {"id": "ch_declined_test", "status": "failed"}
    mirror(actions.engine, "charges", declined)
    refunded = paid.to_dict() | {"id": "ch_refunded_test", "amount_refunded": 7550, "refunded": True}
    mirror(actions.engine, "charges", refunded)

    cases = [
        (ADMIN, form(paid.id, "75.51"), ActionInvalid, "is more than the EUR 75.50 still refundable"),
        (ADMIN, form(paid.id, "10.005"), ActionInvalid, "wrong precision: EUR takes at most 2 decimal places"),
        (ADMIN, form(yen.id, "10.5"), ActionInvalid, "wrong precision: JPY takes no decimals"),
        (ADMIN, form(disputed.id, "10.00"), ActionInvalid, "is disputed and Stripe does not allow refunding it"),
        (ADMIN, form(paid.id, "10.00", reason=None), ActionInvalid, "A refund needs a reason"),
        (ADMIN, form("ch_declined_test", "10.00"), ActionInvalid, "did not succeed"),
        (ADMIN, form("ch_refunded_test", "10.00"), ActionInvalid, "already fully refunded"),
        ("fresh@example.com", form(paid.id, "10.00"), ActionRefused, "needs a TOTP code verified in the last 5"),
        ("stale@example.com", form(paid.id, "10.00"), ActionRefused, "needs a TOTP code verified in the last 5"),
        ("ana@example.com", form(paid.id, "10.00"), ActionRefused, "is an analyst: only admins may act"),
        (None, form(paid.id, "10.00"), ActionRefused, "Sign in first"),
        ("stranger@example.com", form(paid.id, "10.00"), ActionRefused, "is not an active user"),
    ]
    for who, wrong, error, message in cases:
        with pytest.raises(error, match=message):
            refund(actions, who, wrong)
        assert rows_for(actions, wrong.idempotency_key) == [], "a refused action writes nothing"
    for charge_id in (paid.id, yen.id, disputed.id):
        assert server_refunds(actions, charge_id) == [], "nothing reached Stripe"


def test_totp_codes_are_checked_and_work_once(actions, totp_secrets):
    email = "fresh@example.com"
    with pytest.raises(ActionRefused, match="not right"):
        verify_totp(actions.engine, actions.writer, actions.settings, email, "000000")
    code = pyotp.TOTP(totp_secrets[email]).now()
    verify_totp(actions.engine, actions.writer, actions.settings, email, code)
    with pytest.raises(ActionRefused, match="already used"):
        verify_totp(actions.engine, actions.writer, actions.settings, email, code)
    with pytest.raises(ActionRefused, match="is an analyst"):
        verify_totp(actions.engine, actions.writer, actions.settings, "ana@example.com", code)
    with actions.engine.connect() as conn:
        stored = conn.execute(sa.text("select secret_encrypted from ops.user_totp where email = :e"),
                              {"e": email}).scalar_one()
    assert totp_secrets[email].encode() not in bytes(stored), "the secret is stored encrypted"


def test_fifty_concurrent_submissions_of_one_form_make_one_refund(actions, totp_secrets):
    paid = charge(actions.stripe, actions.engine, 7550)
    one_form = form(paid.id, "75.50")
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda _: refund(actions, ADMIN, one_form), range(50)))

    refund_ids = {r.stripe_object_id for r in results}
    assert len(refund_ids) == 1 and all(r.succeeded for r in results)
    assert sum(not r.replayed for r in results) == 1
    assert server_refunds(actions, paid.id) == list(refund_ids)
    assert [status for status, _, _ in rows_for(actions, one_form.idempotency_key)] == ["requested", "succeeded"]


def test_a_crash_between_stripe_and_the_commit_then_a_retry_makes_one_refund(actions, totp_secrets, monkeypatch):
    paid = charge(actions.stripe, actions.engine, 2000)
    crashing = form(paid.id, "20.00")

    def crash(*args, **kwargs):
        raise SystemExit("power cut after Stripe answered")

    with monkeypatch.context() as patch:
        patch.setattr(service, "record_outcome", crash)
        with pytest.raises(SystemExit):
            refund(actions, ADMIN, crashing)
    made = server_refunds(actions, paid.id)
    assert len(made) == 1 and rows_for(actions, crashing.idempotency_key) == [("requested", None, None)]

    retried = refund(actions, ADMIN, crashing)
    assert retried.succeeded and retried.stripe_object_id == made[0]
    assert server_refunds(actions, paid.id) == made
    assert rows_for(actions, crashing.idempotency_key) == [("requested", None, None), ("succeeded", made[0], None)]
    assert verify_chain(actions.engine).intact


def test_stripe_errors_become_failed_rows_with_stripes_message(actions, stripe_url, totp_secrets):
    ghost = {"id": "ch_unknown_at_stripe", "object": "charge", "amount": 1000, "amount_refunded": 0,
             "currency": "eur", "status": "succeeded", "disputed": False}
    mirror(actions.engine, "charges", ghost)
    failing = form(ghost["id"], "5.00")
    result = refund(actions, ADMIN, failing)
    said = httpx.post(f"{stripe_url}/v1/refunds", data={"charge": ghost["id"], "amount": 500},
                      headers={"Authorization": "Bearer sk_test_local"})
    assert said.status_code == 404 and result.status == "failed" and result.error == said.json()["error"]["message"]
    assert rows_for(actions, failing.idempotency_key) == [("requested", None, None), ("failed", None, result.error)]


def test_per_admin_limit(actions, totp_secrets):
    email = "busy@example.com"
    verify_totp(actions.engine, actions.writer, actions.settings, email, pyotp.TOTP(totp_secrets[email]).now())
    limited = replace(actions, admin_actions_per_hour=1)
    paid = charge(actions.stripe, actions.engine, 3000)
    assert refund(limited, email, form(paid.id, "1.00")).succeeded
    with pytest.raises(ActionRefused, match="the most allowed \\(1\\)"):
        refund(limited, email, form(paid.id, "1.00"))
    limited.close()


def test_logs_hold_no_secret_totp_secret_or_card_number(actions, totp_secrets, caplog):
    paid = charge(actions.stripe, actions.engine, 4200, number="4000000000000077")
    with caplog.at_level(logging.DEBUG):
        enrollment = enroll_totp(actions.engine, actions.settings, "stale@example.com")
        logging.getLogger("test").info("enrolled %r", enrollment)
        verify_totp(actions.engine, actions.writer, actions.settings, "stale@example.com",
                    pyotp.TOTP(enrollment.secret).now())
        refund(actions, ADMIN, form(paid.id, "42.00"))
        refund(actions, ADMIN, form("ch_unknown_at_stripe", "1.00"))
    logged = caplog.text
    assert "re_" in logged or "refunds" in logged, "the SDK's request log was captured"
    for secret in (enrollment.secret, actions.stripe._requestor.api_key, "4000000000000077", DECLINED):
        assert secret not in logged


def test_dispute_draft_files_submission_and_acceptance(actions, stripe_url, totp_secrets):
    paid = charge(actions.stripe, actions.engine, 12000)
    dispute = open_dispute(stripe_url, actions.engine, paid.id, reason="product_not_received",
                           due_by=str(int(time.time()) + 30 * 3600 + 600))
    with actions.engine.connect() as conn:
        facts = dispute_facts(conn, dispute["id"])
    assert due_warning(facts.due_by) == "due in 1 day 6 hours"
    assert due_warning(facts.due_by - timedelta(days=2)).startswith("past due by 17 hours")
    assert due_warning(facts.due_by + timedelta(days=5)) is None

    receipt = upload_evidence_file(actions, ADMIN, "receipt.pdf", b"%PDF-1.4 lesson package receipt")
    saved = save_draft(actions, ADMIN, dispute["id"], {"customer_name": " Ana Souza ", "product_description": ""},
                       {"receipt": receipt}, new_idempotency_key())
    assert saved.succeeded and saved.stripe_object_id is None
    with pytest.raises(ActionInvalid, match="not an evidence text field"):
        save_draft(actions, ADMIN, dispute["id"], {"card_number": "4242"}, {}, new_idempotency_key())
    with pytest.raises(ActionRefused, match="is an analyst"):
        submit_evidence(actions, "ana@example.com", dispute["id"], new_idempotency_key())

    key = new_idempotency_key()
    submitted = submit_evidence(actions, ADMIN, dispute["id"], key)
    at_stripe = actions.stripe.v1.disputes.retrieve(dispute["id"])
    assert submitted.succeeded and at_stripe.status == "under_review"
    assert at_stripe.evidence.customer_name == "Ana Souza" and at_stripe.evidence.receipt == receipt["file_id"]
    assert actions.stripe.v1.files.retrieve(receipt["file_id"]).size == len(b"%PDF-1.4 lesson package receipt")
    assert submit_evidence(actions, ADMIN, dispute["id"], key).replayed
    assert at_stripe.evidence_details.submission_count == 1
    with actions.engine.connect() as conn:
        draft = current_draft(conn, dispute["id"])
    assert (draft.status, draft.submission_count, draft.edited_by) == ("submitted", 1, ADMIN)

    other = open_dispute(stripe_url, actions.engine, charge(actions.stripe, actions.engine, 3000).id)
    with pytest.raises(ActionInvalid, match="Say why"):
        accept_dispute(actions, ADMIN, other["id"], " ", new_idempotency_key())
    accepted = accept_dispute(actions, ADMIN, other["id"], "customer is right", new_idempotency_key())
    assert accepted.succeeded and actions.stripe.v1.disputes.retrieve(other["id"]).status == "lost"
    mirror(actions.engine, "disputes", actions.stripe.v1.disputes.retrieve(other["id"]))
    with pytest.raises(ActionInvalid, match="is lost"):
        accept_dispute(actions, ADMIN, other["id"], "again", new_idempotency_key())


def test_payment_retry_with_a_stored_card_is_limited_per_intent(actions, totp_secrets):
    customer = actions.stripe.v1.customers.create({"email": "family@example.com"})
    intent = actions.stripe.v1.payment_intents.create({"amount": 9900, "currency": "eur", "customer": customer.id,
                                                       "payment_method": card(actions.stripe, DECLINED)})
    with contextlib.suppress(stripe.CardError):  # Stripe answers 402; localstripe 200 with the error inside
        actions.stripe.v1.payment_intents.confirm(intent.id)
    failed = actions.stripe.v1.payment_intents.retrieve(intent.id)
    assert failed.status == "requires_payment_method"
    mirror(actions.engine, "payment_intents", failed)
    declined_again = card(actions.stripe, DECLINED)
    good = card(actions.stripe)
    for method in (declined_again, good):
        actions.stripe.v1.payment_methods.attach(method, {"customer": customer.id})
    assert {m.id for m in stored_payment_methods(actions, customer.id)} >= {good, declined_again}

    first = retry_payment(actions, ADMIN, intent.id, declined_again, new_idempotency_key())
    assert first.status == "failed" and "declined" in first.error.lower()
    second = retry_payment(actions, ADMIN, intent.id, good, new_idempotency_key())
    assert second.succeeded and actions.stripe.v1.payment_intents.retrieve(intent.id).status == "succeeded"
    mirror(actions.engine, "payment_intents", actions.stripe.v1.payment_intents.retrieve(intent.id))
    with pytest.raises(ActionInvalid, match="is succeeded: only a failed payment"):
        retry_payment(actions, ADMIN, intent.id, good, new_idempotency_key())
    mirror(actions.engine, "payment_intents", failed)  # as if it had failed again: the attempts still count
    retry_payment(actions, ADMIN, intent.id, declined_again, new_idempotency_key())
    with pytest.raises(ActionRefused, match="retried 3 times, the most allowed"):
        retry_payment(actions, ADMIN, intent.id, good, new_idempotency_key())


def test_fraud_decisions_are_recorded_with_a_note(actions, totp_secrets):
    with pytest.raises(ActionInvalid, match="Say why"):
        decide(actions, ADMIN, "customer", "cus_x", "confirmed_fraud", "", new_idempotency_key())
    assert decide(actions, ADMIN, "customer", "cus_x", "confirmed_fraud", "stolen cards",
                  new_idempotency_key()).succeeded
    assert decide(actions, ADMIN, "customer", "cus_x", "dismissed", "bank confirmed", new_idempotency_key()).succeeded
    with actions.engine.connect() as conn:
        history = conn.execute(sa.text("select status, decided_by, note from ops.fraud_alerts "
                                       "where entity_id = 'cus_x' order by alert_row_id")).all()
        current = conn.execute(sa.text("select status from ops.current_fraud_alerts where entity_id = 'cus_x'"))
        assert current.scalar_one() == "dismissed"
    assert [tuple(r) for r in history] == [("confirmed_fraud", ADMIN, "stolen cards"),
                                           ("dismissed", ADMIN, "bank confirmed")]


def test_a_fraud_decision_on_a_charge_is_reported_to_stripe_before_it_is_recorded(actions, stripe_url, totp_secrets):
    paid = charge(actions.stripe, actions.engine, 3000)
    assert describe_decision("charge", paid.id, "confirmed_fraud", "stolen card") == (
        f"flag charge {paid.id} as confirmed fraud, note: stolen card; and report it to Stripe as fraudulent")
    flagged = decide(actions, ADMIN, "charge", paid.id, "confirmed_fraud", "stolen card", new_idempotency_key())
    at_stripe = httpx.get(f"{stripe_url}/v1/charges/{paid.id}", headers={"Authorization": "Bearer sk_test_local"})
    assert at_stripe.json()["fraud_details"] == {"user_report": "fraudulent"}
    assert flagged.succeeded and flagged.stripe_object_id == paid.id
    cleared = decide(actions, ADMIN, "charge", paid.id, "dismissed", "card holder confirmed", new_idempotency_key())
    assert cleared.succeeded and actions.stripe.v1.charges.retrieve(paid.id).fraud_details.user_report == "safe"

    ghost = decide(actions, ADMIN, "charge", "ch_unknown_at_stripe", "confirmed_fraud", "stolen card",
                   new_idempotency_key())
    assert ghost.status == "failed" and "ch_unknown_at_stripe" in ghost.error
    with actions.engine.connect() as conn:
        decided = conn.execute(sa.text("select entity_id, status from ops.fraud_alerts where decided_by = :admin "
                                       "and entity_type = 'charge' order by alert_row_id"), {"admin": ADMIN}).all()
    assert [tuple(r) for r in decided] == [(paid.id, "confirmed_fraud"), (paid.id, "dismissed")], \
        "Stripe refused the ghost's report: no decision recorded for it"


def test_the_events_an_action_caused_are_linked_through_their_idempotency_key(actions, totp_secrets):
    paid = charge(actions.stripe, actions.engine, 3000)
    linked = form(paid.id, "30.00")
    done = refund(actions, ADMIN, linked)
    event = {"id": "evt_refunded_by_payops", "type": "charge.refunded", "created": int(time.time()),
             "livemode": False, "data": {"object": {"id": paid.id, "object": "charge"}},
             "request": {"id": "req_1", "idempotency_key": linked.idempotency_key}}
    with actions.engine.begin() as conn:  # as the webhook receiver stores Stripe's event
        conn.execute(sa.text("""
            insert into raw.stripe_events (event_id, event_type, livemode, created_at, object_type, object_id,
                                           payload, source)
            values (:id, :type, false, now(), 'charge', :charge, cast(:payload as jsonb), 'webhook')
        """), {"id": event["id"], "type": event["type"], "charge": paid.id, "payload": json.dumps(event)})
    logged = next(row for row in action_log(actions.engine, datetime.now(UTC) - timedelta(hours=1))
                  if row["idempotency_key"] == linked.idempotency_key)
    assert trail(logged) == f"refund requested → Stripe {done.stripe_object_id} → charge.refunded received"


LIMITER_WORKER = """
import sys, time
from actions.stripe_api import close_limiter, stripe_call_limiter
from payops.db import engine
limiter = stripe_call_limiter(engine(), calls_per_second=int(sys.argv[1]))
print(time.time(), flush=True)
for _ in range(int(sys.argv[2])):
    limiter.try_acquire("stripe", blocking=True)
print(time.time(), flush=True)
"""


def test_the_stripe_call_limit_holds_across_processes(actions):
    """This process and another take 15 calls each at 10 calls/s: together, 30 calls need two seconds or more."""
    worker = subprocess.Popen([sys.executable, "-c", LIMITER_WORKER, "10", "15"], stdout=subprocess.PIPE, text=True)
    started = float(worker.stdout.readline())
    here = stripe_call_limiter(actions.engine, calls_per_second=10)
    for _ in range(15):
        here.try_acquire("stripe", blocking=True)
    finished_here = time.time()
    finished_there = float(worker.communicate(timeout=120)[0])
    assert worker.returncode == 0
    close_limiter(here)
    assert max(finished_here, finished_there) - started >= 1.9, "30 calls at 10/s cannot finish within 2 s"


def test_users_add_admin_enrols_totp_with_a_qr_code(actions):
    result = CliRunner().invoke(main, ["users", "add", "New-Admin@example.com", "--role", "admin"])
    assert result.exit_code == 0, result.output
    uri = next(line for line in result.output.splitlines() if line.startswith("otpauth://"))
    assert uri.startswith("otpauth://totp/payops:new-admin%40example.com?secret=") and "▀" in result.output
    secret = pyotp.parse_uri(uri).secret
    verify_totp(actions.engine, actions.writer, actions.settings, "new-admin@example.com", pyotp.TOTP(secret).now())
    again = CliRunner().invoke(main, ["users", "add", "new-admin@example.com", "--role", "admin"])
    assert "TOTP already enrolled" in again.output and "otpauth://" not in again.output


def test_the_demo_server_is_seeded_with_the_warehouses_charges_and_disputes(actions):
    known = {"id": "ch_demo_seeded", "object": "charge", "amount": 5000, "amount_refunded": 0, "currency": "eur",
             "status": "succeeded", "disputed": True}
    mirror(actions.engine, "charges", known)
    mirror(actions.engine, "disputes", {"id": "du_demo_seeded", "object": "dispute", "charge": known["id"],
                                        "amount": 5000, "currency": "eur", "status": "needs_response",
                                        "reason": "fraudulent"})
    with local_stripe_server("--seed") as url:
        seeded = replace(actions, settings=replace(actions.settings, stripe_api_base=url))
        assert seeded.stripe.v1.charges.retrieve(known["id"]).amount == 5000
        assert seeded.stripe.v1.refunds.create({"charge": known["id"], "amount": 100}).amount == 100
        assert seeded.stripe.v1.disputes.retrieve("du_demo_seeded").status == "needs_response"
        seeded.close()


def test_app_roles_cannot_change_history_and_verify_names_tampered_rows(actions, totp_secrets):
    with actions.engine.begin() as conn:  # this test's own refunds need a fresh code, however long the module ran
        conn.execute(sa.text("insert into ops.totp_verifications (email, time_step) values (:e, -2)"), {"e": ADMIN})
    paid = charge(actions.stripe, actions.engine, 3000)
    forms = [form(paid.id, "10.00"), form(paid.id, "20.00")]
    assert all(refund(actions, ADMIN, f).succeeded for f in forms)
    with actions.engine.connect() as conn:
        own = conn.execute(sa.text("select seq, status from ops.admin_actions where idempotency_key = any(:keys) "
                                   "order by seq"), {"keys": [f.idempotency_key for f in forms]}).all()
    assert [status for _, status in own] == ["requested", "succeeded", "requested", "succeeded"]
    assert verify_chain(actions.engine).intact
    for statement in ("update ops.admin_actions set reason = 'x'", "delete from ops.admin_actions",
                      "truncate ops.admin_actions"):
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), actions.writer.begin() as conn:
            conn.execute(sa.text(statement))
        # The owner (here a superuser) is stopped by the trigger.
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), actions.engine.begin() as conn:
            conn.execute(sa.text(statement))
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), actions.writer.connect() as conn:
        conn.execute(sa.text("select * from ops.admin_actions"))
    assert CliRunner().invoke(main, ["audit", "verify"]).exit_code == 0

    # the first request, and its outcome: no row references an outcome (a removed last row would leave a valid
    # chain; only a copy of the newest hash kept elsewhere could show that)
    altered, removed = own[0].seq, own[1].seq
    with actions.engine.begin() as conn:  # a superuser tampers on purpose
        conn.execute(sa.text("alter table ops.admin_actions disable trigger admin_actions_append_only"))
        conn.execute(sa.text("update ops.admin_actions set reason = 'duplicate' where seq = :seq"), {"seq": altered})
        conn.execute(sa.text("delete from ops.admin_actions where seq = :seq"), {"seq": removed})
        conn.execute(sa.text("alter table ops.admin_actions enable trigger admin_actions_append_only"))
    result = CliRunner().invoke(main, ["audit", "verify"])
    assert result.exit_code == 1
    assert f"row seq {altered} (action " in result.output and "was altered" in result.output
    assert f"row seq {removed} was removed" in result.output
    assert [p.seq for p in verify_chain(actions.engine).problems] == [altered, removed]
