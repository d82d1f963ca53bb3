"""The routes localstripe lacks; see the package docstring."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time

from aiohttp import web
from localstripe import server as localstripe
from localstripe.errors import UserError
from localstripe.resources import Charge, PaymentIntent, PaymentMethod, Refund, store

EVIDENCE_FILE_FIELDS = ("cancellation_policy", "customer_communication", "customer_signature",
                        "duplicate_charge_documentation", "receipt", "refund_policy", "service_documentation",
                        "shipping_documentation", "uncategorized_file")
EVIDENCE_TEXT_FIELDS = ("access_activity_log", "billing_address", "cancellation_policy_disclosure",
                        "cancellation_rebuttal", "customer_email_address", "customer_name", "customer_purchase_ip",
                        "duplicate_charge_explanation", "duplicate_charge_id", "product_description",
                        "refund_policy_disclosure", "refund_refusal_explanation", "service_date", "shipping_address",
                        "shipping_carrier", "shipping_date", "shipping_tracking_number", "uncategorized_text")
EVIDENCE_FIELDS = EVIDENCE_FILE_FIELDS + EVIDENCE_TEXT_FIELDS
OPEN_DISPUTE_STATUSES = ("needs_response", "warning_needs_response")
FILE_PURPOSES = ("dispute_evidence", "identity_document", "additional_verification")
MAX_FILE_BYTES = 5 * 1024 * 1024  # Stripe's limit for dispute evidence files

disputes: dict[str, dict] = {}
files: dict[str, dict] = {}
idempotent_answers: dict[tuple[str, str], tuple[str, int, bytes]] = {}
idempotency_locks: dict[tuple[str, str], asyncio.Lock] = {}


def _stripe_error(status: int, message: str, error_type: str = "invalid_request_error", **extra) -> web.Response:
    return localstripe.json_response({"error": {"type": error_type, "message": message, **extra}}, status=status)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


# --- idempotency ----------------------------------------------------------------------------------


@web.middleware
async def idempotency_middleware(request: web.Request, handler):
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    scope = (request.headers.get("Authorization", ""), key)
    fingerprint = hashlib.sha256(request.path.encode() + b"\0" + await request.read()).hexdigest()
    async with idempotency_locks.setdefault(scope, asyncio.Lock()):
        if scope in idempotent_answers:
            stored_fingerprint, status, body = idempotent_answers[scope]
            if stored_fingerprint != fingerprint:
                return _stripe_error(400, "Keys for idempotent requests can only be used with the same parameters "
                                          "they were first used with. Try using a key other than "
                                          f"'{key}' if you meant to execute a different request.",
                                     "idempotency_error")
            response = web.Response(body=body, status=status, content_type="application/json")
            response.headers["Idempotent-Replayed"] = "true"
            return response
        try:
            response = await handler(request)
        except UserError as exc:
            response = exc.to_response()
        if response.status < 500:  # Stripe does not store answers to requests that failed on its side
            idempotent_answers[scope] = (fingerprint, response.status, response.body)
        return response


# --- files ----------------------------------------------------------------------------------------


async def create_file(request: web.Request) -> web.Response:
    form = await request.post()
    upload, purpose = form.get("file"), form.get("purpose")
    if purpose not in FILE_PURPOSES:
        return _stripe_error(400, f"Invalid purpose: must be one of {', '.join(FILE_PURPOSES)}", param="purpose")
    if not isinstance(upload, web.FileField):
        return _stripe_error(400, "Missing required param: file.", param="file")
    content = upload.file.read()
    if len(content) > MAX_FILE_BYTES:
        return _stripe_error(400, "The file is larger than the 5 MB allowed for dispute evidence.", param="file")
    file_id = _new_id("file")
    filename = upload.filename or "upload"
    files[file_id] = {
        "id": file_id, "object": "file", "created": int(time.time()), "expires_at": None, "filename": filename,
        "links": None, "purpose": purpose, "size": len(content), "title": None,
        "type": filename.rsplit(".", 1)[-1].lower() if "." in filename else None,
        "url": f"/v1/files/{file_id}/contents",
    }
    return localstripe.json_response(files[file_id])


async def retrieve_file(request: web.Request) -> web.Response:
    file_id = request.match_info["id"]
    if file_id not in files:
        return _stripe_error(404, f"No such file upload: '{file_id}'", code="resource_missing", param="id")
    return localstripe.json_response(files[file_id])


# --- disputes -------------------------------------------------------------------------------------


def _dispute_or_404(dispute_id: str) -> dict:
    if dispute_id not in disputes:
        raise UserError(404, f"No such dispute: '{dispute_id}'", {"code": "resource_missing", "param": "id"})
    return disputes[dispute_id]


def _refresh_evidence_details(dispute: dict) -> dict:
    details = dispute["evidence_details"]
    details["past_due"] = details["due_by"] is not None and details["due_by"] < time.time()
    details["has_evidence"] = any(value for value in dispute["evidence"].values())
    return dispute


async def open_dispute(request: web.Request) -> web.Response:
    """Test hook: open a dispute on an existing charge (Stripe opens them when a card holder complains)."""
    data = await localstripe.get_post_data(request) or {}
    charge = Charge._api_retrieve(data.get("charge"))
    dispute_id = data.get("id") or _new_id("du")
    now = int(time.time())
    disputes[dispute_id] = {
        "id": dispute_id, "object": "dispute", "amount": int(data.get("amount") or charge.amount),
        "balance_transactions": [], "charge": charge.id, "created": now, "currency": charge.currency,
        "evidence": dict.fromkeys(EVIDENCE_FIELDS),
        "evidence_details": {"due_by": int(data.get("due_by") or now + 7 * 86400), "has_evidence": False,
                             "past_due": False, "submission_count": 0},
        "is_charge_refundable": str(data.get("is_charge_refundable", "false")).lower() == "true",
        "livemode": False, "metadata": {}, "payment_intent": getattr(charge, "payment_intent", None),
        "reason": data.get("reason") or "fraudulent", "status": data.get("status") or "needs_response",
    }
    return localstripe.json_response(_refresh_evidence_details(disputes[dispute_id]))


async def retrieve_dispute(request: web.Request) -> web.Response:
    return localstripe.json_response(_refresh_evidence_details(_dispute_or_404(request.match_info["id"])))


async def list_disputes(request: web.Request) -> web.Response:
    charge = request.query.get("charge")
    data = [_refresh_evidence_details(d) for d in disputes.values() if charge in (None, d["charge"])]
    data.sort(key=lambda d: d["created"], reverse=True)
    return localstripe.json_response({"object": "list", "url": "/v1/disputes", "has_more": False, "data": data})


def _closed(dispute: dict) -> web.Response | None:
    if dispute["status"] in OPEN_DISPUTE_STATUSES:
        return None
    return _stripe_error(400, f"This dispute is already closed (status: {dispute['status']}); it cannot be changed.")


async def update_dispute(request: web.Request) -> web.Response:
    dispute = _dispute_or_404(request.match_info["id"])
    if (refused := _closed(dispute)) is not None:
        return refused
    data = await localstripe.get_post_data(request) or {}
    evidence = data.get("evidence") or {}
    unknown = sorted(set(evidence) - set(EVIDENCE_FIELDS))
    if unknown:
        param = f"evidence[{unknown[0]}]"
        return _stripe_error(400, f"Received unknown parameter: {param}", param=param)
    for field in EVIDENCE_FILE_FIELDS:
        file_id = evidence.get(field)
        if file_id and (file_id not in files or files[file_id]["purpose"] != "dispute_evidence"):
            return _stripe_error(400, f"No such file upload with purpose dispute_evidence: '{file_id}'",
                                 param=f"evidence[{field}]")
    dispute["evidence"].update({k: (v or None) for k, v in evidence.items()})
    dispute["metadata"].update(data.get("metadata") or {})
    if str(data.get("submit", "true")).lower() == "true":
        dispute["status"] = "under_review"
        dispute["evidence_details"]["submission_count"] += 1
    return localstripe.json_response(_refresh_evidence_details(dispute))


async def close_dispute(request: web.Request) -> web.Response:
    dispute = _dispute_or_404(request.match_info["id"])
    if (refused := _closed(dispute)) is not None:
        return refused
    dispute["status"] = "lost"
    return localstripe.json_response(_refresh_evidence_details(dispute))


# --- payment intents ------------------------------------------------------------------------------


@web.middleware
async def confirm_with_payment_method(request: web.Request, handler):
    """localstripe confirms only intents awaiting confirmation; Stripe also takes a new payment method."""
    parts = request.path.strip("/").split("/")
    if request.method == "POST" and len(parts) == 4 and parts[:2] == ["v1", "payment_intents"] \
            and parts[3] == "confirm":
        data = await localstripe.get_post_data(request) or {}
        payment_method = data.get("payment_method")
        if payment_method:
            intent = PaymentIntent._api_retrieve(parts[2])
            if intent.status not in ("requires_payment_method", "requires_confirmation"):
                return _stripe_error(400, f"This PaymentIntent's status is {intent.status}; it cannot be confirmed.",
                                     code="payment_intent_unexpected_state")
            PaymentMethod._api_retrieve(payment_method)
            intent.payment_method = payment_method
            intent.latest_charge = None
            intent._confirm(on_failure_now=lambda: None)
            return localstripe.json_response(intent._export())
    return await handler(request)


@web.middleware
async def parse_multipart_first(request: web.Request, handler):
    """localstripe reads every body as JSON first, which consumes a multipart upload; parse it before that."""
    if request.content_type == "multipart/form-data":
        await request.post()
    return await handler(request)


REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


@web.middleware
async def refund_with_reason(request: web.Request, handler):
    """localstripe refuses Stripe's `reason` on refunds; take it as Stripe does and echo it back."""
    if request.method == "POST" and request.path == "/v1/refunds":
        data = await localstripe.get_post_data(request) or {}
        reason = data.pop("reason", None)
        if reason is not None and reason not in REFUND_REASONS:
            return _stripe_error(400, f"Invalid reason: must be one of {', '.join(REFUND_REASONS)}", param="reason")
        data.pop("expand", None)
        created = Refund._api_create(**data)
        created.reason = reason
        return localstripe.json_response(created._export())
    return await handler(request)


USER_REPORTS = ("fraudulent", "safe")


@web.middleware
async def charge_fraud_details(request: web.Request, handler):
    """localstripe refuses Stripe's `fraud_details` on a charge update; take the user report as Stripe does and
    show it on the charge (fraud_details.user_report)."""
    parts = request.path.strip("/").split("/")
    if request.method == "POST" and len(parts) == 3 and parts[:2] == ["v1", "charges"]:
        data = await localstripe.get_post_data(request) or {}
        if "fraud_details" in data:
            report = (data.pop("fraud_details") or {}).get("user_report")
            if report not in USER_REPORTS:
                return _stripe_error(400, f"Invalid fraud_details[user_report]: must be one of "
                                          f"{', '.join(USER_REPORTS)}", param="fraud_details[user_report]")
            data.pop("expand", None)
            if f"charge:{parts[2]}" not in store:
                return _stripe_error(404, f"No such charge: '{parts[2]}'", code="resource_missing", param="id")
            charge = Charge._api_update(parts[2], **data)
            charge.fraud_details = {"user_report": report}
            return localstripe.json_response(charge._export())
    return await handler(request)


def seed(charges: list[dict], disputes_seen: list[dict]) -> int:
    """Load objects the warehouse knows (the demo's), under their own ids: succeeded charges (on a test card) and
    their disputes, so every admin form can be tried on what the dashboards show. Returns how many."""
    card = PaymentMethod._api_create(type="card", card={"number": "4242424242424242", "exp_month": 12,
                                                         "exp_year": 2040, "cvc": "123"})
    for known in charges:
        made = Charge._api_create(amount=int(known["amount"]), currency=known["currency"], source=card.id)
        del store[f"charge:{made.id}"]
        made.id = known["id"]
        store[f"charge:{made.id}"] = made
    for known in disputes_seen:
        disputes[known["id"]] = {"evidence": dict.fromkeys(EVIDENCE_FIELDS), "metadata": {},
                                 "evidence_details": {"due_by": None, "submission_count": 0}, **known}
    return len(charges) + len(disputes_seen)


def build_app() -> web.Application:
    """localstripe's application with our routes and middlewares added, and its disk dumps switched off."""
    app = localstripe.app
    store.dump_to_disk = lambda: None  # localstripe pickles to one /tmp file shared by every instance
    app.middlewares.insert(0, parse_multipart_first)
    app.middlewares.append(idempotency_middleware)
    app.middlewares.append(confirm_with_payment_method)
    app.middlewares.append(refund_with_reason)
    app.middlewares.append(charge_fraud_details)
    app.router.add_post("/v1/files", create_file)
    app.router.add_get("/v1/files/{id}", retrieve_file)
    app.router.add_get("/v1/disputes", list_disputes)
    app.router.add_get("/v1/disputes/{id}", retrieve_dispute)
    app.router.add_post("/v1/disputes/{id}", update_dispute)
    app.router.add_post("/v1/disputes/{id}/close", close_dispute)
    app.router.add_post("/_config/disputes", open_dispute)
    return app


