"""The admin pages in Streamlit's AppTest, on a real warehouse and the local Stripe: a refund from the form
through its confirmation to Stripe and the audit log, and the refusal of analysts and strangers.

Sign-in itself belongs to the app's auth module (OpenID Connect); here `auth.current_user` is set to the user a
signed-in identity would map to. The same flows signed in for real, in chromium: tests/test_admin_browser.py."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from conftest import environment
from local_stripe import charge, open_dispute
from streamlit_fixtures import signed_in as signed_in_user

from actions.guards import enroll_totp
from actions.local_stripe import serving as local_stripe_server
from actions.service import Actions
from payops.db import ready_engine
from payops.users import add_user, find_user

APP_DIR = Path(__file__).resolve().parents[1] / "streamlit_app"
ADMIN = "pages-admin@example.com"


@pytest.fixture(scope="module")
def setup(module_warehouse):
    with local_stripe_server() as url:
        settings = replace(module_warehouse, stripe_api_base=url)
        actions = Actions(settings, ready_engine(settings))
        add_user(actions.engine, ADMIN, "admin", added_by="test")
        add_user(actions.engine, "pages-analyst@example.com", "analyst", added_by="test")
        secret = enroll_totp(actions.engine, settings, ADMIN).secret
        yield actions, secret
        actions.close()


VISITOR: dict = {"user": signed_in_user(None)}
"""What the identity provider says of the visitor of the next page opened (the sign-in itself is tested in
test_streamlit_auth.py and, end to end, in the browser)."""


@pytest.fixture
def signed_in(setup, monkeypatch):
    """Returns sign_in(email): the app's auth.current_user answers for that email from then on."""
    actions, _ = setup
    monkeypatch.syspath_prepend(str(APP_DIR))
    import auth

    def sign_in(email: str | None) -> None:
        VISITOR["user"] = signed_in_user(email)
        monkeypatch.setattr(auth, "current_user", lambda: find_user(actions.engine, email))

    with environment(PAYOPS_HOME=str(actions.settings.home), STRIPE_API_BASE=actions.settings.stripe_api_base):
        yield sign_in
        if "admin" in sys.modules:  # the app's cached services hold pools on this test's warehouse
            sys.modules["admin"].services().close()
            sys.modules["admin"].actions_service.clear()


def open_page(page: str, **query: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP_DIR / "app.py"), default_timeout=60)
    at.user = VISITOR["user"]
    at.run()
    at.query_params.update(query)
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def test_a_partial_refund_from_form_to_confirmation_to_stripe_and_the_audit_log(setup, signed_in):
    actions, secret = setup
    paid = charge(actions.stripe, actions.engine, 7550)
    signed_in(ADMIN)
    at = open_page("admin_refund")
    assert "Stripe: **local (" in at.caption[0].value

    at.text_input(key="totp_code").input(pyotp.TOTP(secret).now())
    button(at, "Verify code").click().run()
    at.text_input(key="refund_charge").input(paid.id).run()
    at.text_input(key="refund_amount").input("40.00")
    at.selectbox(key="refund_reason").select("requested_by_customer").run()
    at.button(key="refund_review").click().run()
    assert [w.value for w in at.warning] == [
        f"This will refund EUR 40.00 of EUR 75.50 on {paid.id}, reason: requested_by_customer"]
    at.button(key="refund_confirm").click().run()
    assert not at.exception, [e.message for e in at.exception]
    refunds = [r for r in actions.stripe.v1.refunds.list({"limit": 100}).data if r.charge == paid.id]
    assert len(refunds) == 1 and refunds[0].amount == 4000
    assert at.success[-1].value == f"Done → Stripe {refunds[0].id}"

    log = open_page("audit_log")
    assert log.success[0].value.startswith("Chain intact: 2 rows")
    shown = log.dataframe[0].value
    assert list(shown["trail"]) == [f"refund requested → Stripe {refunds[0].id}"]


def test_the_rest_of_a_full_refund_needs_a_reason_and_refuses_too_much(setup, signed_in):
    actions, _ = setup
    paid = charge(actions.stripe, actions.engine, 7550)
    signed_in(ADMIN)
    at = open_page("admin_refund")  # a new session (a reload): the code verified in the test before is still fresh
    assert [t for t in at.text_input if t.key == "totp_code"] == []
    assert any(c.value.startswith("TOTP verified at ") for c in at.caption)
    at.text_input(key="refund_charge").input(paid.id).run()
    at.text_input(key="refund_amount").input("75.51").run()
    at.button(key="refund_review").click().run()
    assert "A refund needs a reason" in at.error[0].value
    at.selectbox(key="refund_reason").select("duplicate").run()
    at.button(key="refund_review").click().run()
    assert "is more than the EUR 75.50 still refundable" in at.error[0].value


def test_a_dispute_response_from_draft_to_confirmed_submission(setup, signed_in):
    actions, _ = setup
    paid = charge(actions.stripe, actions.engine, 12000)
    dispute = open_dispute(actions.settings.stripe_api_base, actions.engine, paid.id,
                           due_by=str(int(time.time()) + 50 * 3600 + 600))
    with actions.engine.begin() as conn:  # a code verified a minute ago (the refund test verified the real one)
        conn.execute(sa.text("insert into ops.totp_verifications (email, time_step, verified_at) "
                             "values (:e, -1, now() - interval '1 minute')"), {"e": ADMIN})
    signed_in(ADMIN)
    at = open_page("admin_disputes", dispute=dispute["id"])
    assert [w.value for w in at.warning][0].endswith(": due in 2 days 2 hours")
    at.text_input(key="evidence_customer_name").input("Ana Souza")
    at.text_area(key="evidence_product_description").input("10 lessons, 8 attended (attendance log attached)")
    button(at, "Save draft").click().run()
    assert at.success[0].value == "Draft saved"
    at.button(key="dispute_submit_review").click().run()
    assert any(w.value.startswith(f"This will submit evidence on {dispute['id']} (EUR 120.00, fraudulent) to "
                                  "Stripe: 2 text field(s), no files.") for w in at.warning)
    at.button(key="dispute_submit_confirm").click().run()
    assert not at.exception, [e.message for e in at.exception]
    at_stripe = actions.stripe.v1.disputes.retrieve(dispute["id"])
    assert at_stripe.status == "under_review" and at_stripe.evidence.customer_name == "Ana Souza"


@pytest.mark.parametrize("who, says, page", [
    *[("pages-analyst@example.com", "is an analyst: admin pages are for admins", page)
      for page in ("admin_refund", "admin_disputes", "admin_fraud", "admin_retries", "admin_reconciliation",
                   "audit_log")],
    (None, "Sign in as an admin", "admin_refund"),
])
def test_analysts_and_strangers_get_no_admin_page(setup, signed_in, who, says, page):
    from streamlit.testing.v1 import AppTest

    signed_in(who)
    at = AppTest.from_file(str(APP_DIR / "app.py"), default_timeout=60)
    at.user = VISITOR["user"]
    at.run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(f"views/{page}.py")  # the app routes admins only to the admin pages
    # Reached by its own script, past the app's routing, the page refuses them too.
    direct = AppTest.from_file(str(APP_DIR / "views" / f"{page}.py"), default_timeout=60)
    direct.user = VISITOR["user"]
    direct.run()
    assert says in " ".join(m.value for m in [*direct.error, *direct.warning])
    assert not direct.text_input and not direct.button
