"""Admin actions as an admin does them, in Debian's chromium: signed in through the local OpenID Connect provider,
a TOTP code from the enrolled secret, each form's confirmation step, then the audit log. The app talks to the local
Stripe seeded with the pipeline's charges and disputes (as `make demo` does), and each test checks the effect
where it lands: the refund or the dispute's evidence and file at that server, the resolution row in Postgres, and
the action in the audit log's export with the chain verified.

AppTest cannot drive these end to end (it cannot click a button in a dialog opened by another button, and has no
sign-in); the browser can. One app process, one local Stripe and one signed-in page serve the four flows.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest
import sqlalchemy as sa
import stripe
from browser_fixtures import RENDER_TIMEOUT_MS, settle, sign_in_as
from local_stripe import mirror
from playwright.sync_api import Browser, Page
from streamlit_fixtures import ADMIN

from actions.guards import enroll_totp
from actions.local_stripe import serving as local_stripe_server

pytest_plugins = ["streamlit_fixtures", "browser_fixtures"]

TWO_DECIMAL_CURRENCIES = ("usd", "eur", "gbp", "brl")
"""Charges the tests refund are in one of these, so amounts are typed and read as d.dd."""
EVIDENCE_FILE = b"%PDF-1.4\n% attendance log: 8 of 10 lessons attended, signed by the tutor\n%%EOF\n"


@pytest.fixture(scope="module")
def local_stripe_url(pipeline) -> Iterator[str]:
    """The local Stripe loaded with the warehouse's succeeded charges and their disputes (`--seed`, as the demo)."""
    with local_stripe_server("--seed", env=pipeline.env) as url:
        yield url


@pytest.fixture(scope="module")
def app_env(local_stripe_url: str) -> dict[str, str]:
    return {"STRIPE_API_BASE": local_stripe_url}


@pytest.fixture(scope="module")
def at_stripe(local_stripe_url: str) -> stripe.StripeClient:
    """The plain SDK on the local server: how the tests see what the app did there."""
    return stripe.StripeClient("sk_test_local", base_addresses={"api": local_stripe_url})


@pytest.fixture(scope="module")
def admin_page(browser: Browser, app_url: str, pipeline) -> Iterator[Page]:
    """The admin, signed in through the provider, having verified a TOTP code on the Refund page."""
    secret = enroll_totp(pipeline.engine, pipeline.settings, ADMIN).secret
    with browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True) as context:
        page = context.new_page()
        sign_in_as(page, app_url, ADMIN)
        open_admin_page(page, "admin_refund", "Refund")
        assert "Stripe: local (" in page.locator("body").inner_text()
        widget(page, "totp_code").locator("input").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Verify code").click()
        page.get_by_text("TOTP verified at").wait_for(timeout=RENDER_TIMEOUT_MS)
        yield page


def open_admin_page(page: Page, url_path: str, title: str) -> None:
    """Through the sidebar, as an admin moves between pages (the session, and its TOTP check, stay)."""
    link = page.locator(f'[data-testid="stSidebarNav"] a[href$="/{url_path}"]')
    if not link.is_visible():  # Streamlit folds a long navigation after ten pages: "View 10 more"
        page.get_by_test_id("stSidebarNavViewButton").click()
    link.click()
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=RENDER_TIMEOUT_MS)
    settle(page)


def widget(page: Page, key: str):
    """A widget by its Streamlit key (Streamlit marks its container with the class st-key-<key>)."""
    return page.locator(f".st-key-{key}")


def pick(page: Page, key: str, option: str) -> None:
    """Choose an option of a selectbox as a person does in a long list: type it, press Enter (which also takes
    an id the list does not offer, where the box accepts new options)."""
    widget(page, key).click()
    page.keyboard.type(option)
    page.keyboard.press("Enter")


def confirm(page: Page, form: str, expected_warning: str) -> str:
    """Review, read the statement of what will happen, confirm; returns the success message."""
    widget(page, f"{form}_review").get_by_role("button").click()
    page.get_by_text(f"This will {expected_warning}", exact=True).wait_for(timeout=RENDER_TIMEOUT_MS)
    widget(page, f"{form}_confirm").get_by_role("button").click()
    done = page.locator('[data-testid="stAlertContentSuccess"]').filter(has_text="Done")
    done.wait_for(timeout=RENDER_TIMEOUT_MS)
    settle(page)
    return done.inner_text().strip()


def audit_row(page: Page, pipeline, action_type: str, target_id: str) -> dict:
    """The audit log's chain status as the page shows it, and this action from its CSV export."""
    open_admin_page(page, "audit_log", "Audit log")
    with pipeline.engine.connect() as conn:
        rows = conn.execute(sa.text("select count(*) from ops.admin_actions")).scalar_one()
    page.get_by_text(f"Chain intact: {rows} rows, head hash").wait_for(timeout=RENDER_TIMEOUT_MS)
    with page.expect_download(timeout=RENDER_TIMEOUT_MS) as download:
        page.get_by_role("button", name="Export CSV").click()
    exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    mine = [row for row in exported if (row["action_type"], row["target_id"]) == (action_type, target_id)]
    assert len(mine) == 1, mine
    return mine[0]


def refundable_charges(pipeline, count: int) -> list[tuple[str, str, int]]:
    """(id, currency, amount) of the newest succeeded, undisputed, unrefunded charges the server was seeded with."""
    with pipeline.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text("""
            select id, object ->> 'currency', (object ->> 'amount')::bigint from raw.stripe_charges c
            where object ->> 'status' = 'succeeded' and not coalesce((object ->> 'disputed')::boolean, false)
              and coalesce((object ->> 'amount_refunded')::bigint, 0) = 0
              and object ->> 'currency' = any(:currencies)
              and not exists (select from ops.admin_actions a where a.target_id = c.id)
              and not exists (select from raw.stripe_disputes d where d.object ->> 'charge' = c.id)
            order by last_event_created_at desc, id limit :count
        """), {"currencies": list(TWO_DECIMAL_CURRENCIES), "count": count})]


def refunds_at_stripe(at_stripe: stripe.StripeClient, charge_id: str) -> list[stripe.Refund]:
    return [r for r in at_stripe.v1.refunds.list({"limit": 100}).data if r.charge == charge_id]


def money(currency: str, minor: int) -> str:
    return f"{currency.upper()} {minor / 100:,.2f}"


def refund_through_the_form(page: Page, charge_id: str, typed_amount: str) -> None:
    open_admin_page(page, "admin_refund", "Refund")
    assert "TOTP verified at" in page.locator("body").inner_text(), "the code verified at sign-in is still fresh"
    widget(page, "refund_charge").locator("input").fill(charge_id)
    widget(page, "refund_charge").locator("input").press("Enter")
    widget(page, "refund_amount").wait_for(timeout=RENDER_TIMEOUT_MS)
    widget(page, "refund_amount").locator("input").fill(typed_amount)
    pick(page, "refund_reason", "requested_by_customer")


@pytest.mark.parametrize("share", ["full", "partial"])
def test_a_refund_from_the_form_through_confirmation_to_stripe_and_the_audit_log(
    admin_page: Page, pipeline, at_stripe: stripe.StripeClient, share: str
) -> None:
    # Each run takes its own charge: the newest still untouched by any action.
    charge_id, currency, amount = refundable_charges(pipeline, 1)[0]
    refunded = amount if share == "full" else amount // 2
    typed = "" if share == "full" else f"{refunded / 100:.2f}"  # empty: everything still refundable
    refund_through_the_form(admin_page, charge_id, typed)

    done = confirm(admin_page, "refund", f"refund {money(currency, refunded)} of {money(currency, amount)} on "
                                         f"{charge_id}, reason: requested_by_customer")
    at_server = refunds_at_stripe(at_stripe, charge_id)
    assert [(r.amount, r.currency, r.reason) for r in at_server] == [(refunded, currency, "requested_by_customer")]
    assert done == f"Done → Stripe {at_server[0].id}"

    logged = audit_row(admin_page, pipeline, "refund", charge_id)
    assert logged["trail"] == f"refund requested → Stripe {at_server[0].id}"
    assert (logged["admin_email"], logged["status"], logged["reason"]) == (ADMIN, "succeeded",
                                                                          "requested_by_customer")


@pytest.fixture
def dispute_needing_response(pipeline, local_stripe_url: str) -> Iterator[dict]:
    """The demo's disputes are all answered already, so one is opened at the local Stripe on a seeded charge and
    put where processing its charge.dispute.created would put it; removed after, as later modules refresh this
    warehouse and compare its marts with the demo's events."""
    charge_id, _, _ = refundable_charges(pipeline, 1)[0]
    due_by = int(time.time()) + 5 * 86400
    dispute = httpx.post(f"{local_stripe_url}/_config/disputes", data={
        "charge": charge_id, "reason": "product_not_received", "due_by": str(due_by)}).raise_for_status().json()
    mirror(pipeline.engine, "disputes", dispute)
    yield dispute
    with pipeline.engine.begin() as conn:
        conn.execute(sa.text("delete from raw.stripe_disputes where id = :id"), {"id": dispute["id"]})


def test_an_evidence_submission_with_a_file_reaches_the_dispute_at_stripe(
    admin_page: Page, pipeline, at_stripe: stripe.StripeClient, dispute_needing_response: dict, tmp_path: Path
) -> None:
    dispute_id, currency, amount, reason = (dispute_needing_response[field]
                                            for field in ("id", "currency", "amount", "reason"))
    upload = tmp_path / "attendance-log.pdf"
    upload.write_bytes(EVIDENCE_FILE)
    page = admin_page
    open_admin_page(page, "admin_disputes", "Dispute response")
    pick(page, "dispute_id", dispute_id)
    widget(page, "evidence_customer_name").wait_for(timeout=RENDER_TIMEOUT_MS)
    widget(page, "evidence_customer_name").locator("input").fill("Ana Souza")
    widget(page, "evidence_product_description").locator("textarea").fill("10 lessons, 8 attended (log attached)")
    widget(page, "file_receipt").locator('input[type="file"]').set_input_files(upload)
    widget(page, "file_receipt").get_by_text(upload.name).wait_for(timeout=RENDER_TIMEOUT_MS)
    page.get_by_role("button", name="Save draft").click()
    page.get_by_text("Draft saved", exact=True).wait_for(timeout=RENDER_TIMEOUT_MS)
    settle(page)

    done = confirm(page, "dispute_submit", f"submit evidence on {dispute_id} ({money(currency, amount)}, {reason}) "
                                           f"to Stripe: 2 text field(s), receipt: {upload.name}. Stripe takes one "
                                           "submission; it cannot be edited after.")
    assert done == f"Done → Stripe {dispute_id}"
    dispute = at_stripe.v1.disputes.retrieve(dispute_id)
    assert dispute.status == "under_review" and dispute.evidence_details.submission_count == 1
    assert (dispute.evidence.customer_name, dispute.evidence.product_description) == (
        "Ana Souza", "10 lessons, 8 attended (log attached)")
    sent = at_stripe.v1.files.retrieve(dispute.evidence.receipt)
    assert (sent.filename, sent.size, sent.purpose) == (upload.name, len(EVIDENCE_FILE), "dispute_evidence")

    logged = audit_row(page, pipeline, "dispute_evidence_submit", dispute_id)
    assert logged["trail"] == f"dispute_evidence_submit requested → Stripe {dispute_id}"
    assert logged["status"] == "succeeded"


def test_a_reconciliation_exception_resolved_with_a_note_is_recorded_and_logged(admin_page: Page, pipeline) -> None:
    with pipeline.engine.connect() as conn:
        kind, purchase, charge_id = conn.execute(sa.text("""
            select e.kind, e.purchase_transaction_id, e.charge_id from analytics.reconciliation_exceptions e
            where not exists (select from ops.reconciliation_resolutions r where r.kind = e.kind
                              and r.purchase_transaction_id is not distinct from e.purchase_transaction_id
                              and r.charge_id is not distinct from e.charge_id)
            order by e.first_seen_at desc, e.kind limit 1
        """)).one()
    note = "the family paid the rest by bank transfer, ticket 4711"
    page = admin_page
    open_admin_page(page, "admin_reconciliation", "Resolve reconciliation exceptions")
    pick(page, "resolve_exception", f"{kind} · {purchase or '—'} · {charge_id or '—'}")
    widget(page, "resolve_note").locator("textarea").fill(note)

    subject = " / ".join(x for x in (purchase, charge_id) if x)
    assert confirm(page, "resolve", f"mark {kind} on {subject} as explained, note: {note}") == "Done"
    with pipeline.engine.connect() as conn:
        recorded = conn.execute(sa.text("""
            select resolved_by, note from ops.reconciliation_resolutions
            where kind = :kind and purchase_transaction_id is not distinct from :purchase
              and charge_id is not distinct from :charge
        """), {"kind": kind, "purchase": purchase, "charge": charge_id}).all()
    assert [tuple(row) for row in recorded] == [(ADMIN, note)]

    logged = audit_row(page, pipeline, "reconciliation_resolve", charge_id or purchase)
    assert logged["trail"] == "reconciliation_resolve requested → recorded"
    assert (logged["reason"], logged["status"]) == (note, "succeeded")
