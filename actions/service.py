"""How every admin action runs, exactly once: check the person, lock the form's key, record the request,
call Stripe, record the outcome.

An action reads through one connection (`Actions.session`, autocommit: each read sees what others committed)
and writes through one connection of the INSERT-only writer: round trips to Postgres are most of what an action
adds to Stripe's own time, so each is counted (bench/actions_bench.py).

The idempotency key is made when the form opens (`new_idempotency_key`) and comes back with every submission
of that form: a double click, a reload, 50 concurrent posts, or a retry after a crash. Submissions of one key
(and of one target: two forms refunding one charge) queue on a Postgres advisory lock. Whoever holds it first
finds no request, validates and writes the `requested` row (committed before Stripe is called), calls Stripe
with the key as Idempotency-Key and writes the outcome. Everyone after finds the outcome and gets it back.
A crash after Stripe answered leaves a request without an outcome: the retry calls Stripe again with the same
key, Stripe answers with the first result rather than acting twice, and the outcome is recorded then.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

import sqlalchemy as sa
import stripe

from actions import audit
from actions.errors import ActionInvalid, ActionRefused
from actions.guards import require_admin, require_fresh_totp
from actions.stripe_api import close_limiter, stripe_call_limiter, stripe_client
from payops.settings import Settings
from payops.users import User

log = logging.getLogger(__name__)

ADMIN_ACTIONS_PER_HOUR = 60


def new_idempotency_key() -> str:
    """Made when a form opens, kept with it until it is answered. raw.stripe_events indexes the keys with this prefix
    only (migration 0012), which is how ops.admin_action_events finds the events an action caused."""
    return f"payops-{uuid.uuid4()}"


@dataclass
class Actions:
    """What the services need, built once per process: the reading engine, the INSERT-only writer, Stripe."""

    settings: Settings
    engine: sa.Engine
    admin_actions_per_hour: int = ADMIN_ACTIONS_PER_HOUR
    stripe_calls_per_second: int | None = None
    _writer: sa.Engine | None = field(default=None, repr=False)

    @cached_property
    def writer(self) -> sa.Engine:
        return self._writer or audit.writer_engine(self.engine)

    @cached_property
    def stripe(self) -> stripe.StripeClient:
        return stripe_client(self.settings)

    @cached_property
    def limiter(self):
        if self.stripe_calls_per_second is None:
            return stripe_call_limiter(self.engine)
        return stripe_call_limiter(self.engine, self.stripe_calls_per_second)

    @contextmanager
    def session(self) -> Iterator[sa.Connection]:
        """The one reading connection of an action: the person's check, the target's facts, the lock, the key."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn

    def close(self) -> None:
        """Release the connections (the limiter's pool would otherwise keep reconnecting to a stopped server)."""
        if "limiter" in self.__dict__:
            close_limiter(self.limiter)
        if "writer" in self.__dict__ and self._writer is None:
            self.writer.dispose()

    def call_stripe(self, call: Callable[[], stripe.StripeObject]) -> stripe.StripeObject:
        self.limiter.try_acquire("stripe", blocking=True)
        return call()


@dataclass(frozen=True)
class ActionSpec:
    """One admin action as the services describe it to `perform`."""

    action_type: str
    target_type: str
    target_id: str
    reason: str | None
    params: dict
    idempotency_key: str


@dataclass(frozen=True)
class ActionResult:
    status: str
    """succeeded or failed"""
    stripe_object_id: str | None
    error: str | None
    request_id: str
    replayed: bool
    """True when this submission found the action already answered (a double click, a retry)"""

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


def check_person(conn: sa.Connection, admin_email: str | None, needs_totp: bool) -> User:
    user = require_admin(conn, admin_email)
    if needs_totp:
        require_fresh_totp(conn, user.email)
    return user


def _from_outcome(request: audit.ActionRow, outcome: audit.ActionRow, replayed: bool) -> ActionResult:
    return ActionResult(outcome.status, outcome.stripe_object_id, outcome.error, request.action_id, replayed)


OnSuccess = Callable[[sa.Connection, "stripe.StripeObject | None"], None]
"""Local bookkeeping of a succeeded action (a dispute's new version, an alert's decision), written in the
outcome's own transaction: both are recorded, or neither."""


def record_request(write: sa.Connection, user: User, spec: ActionSpec) -> audit.ActionRow:
    """The `requested` row, committed before Stripe is called; returned as written (the writer cannot read)."""
    fields = {"admin_email": user.email, "action_type": spec.action_type, "target_type": spec.target_type,
              "target_id": spec.target_id, "reason": spec.reason, "params": spec.params,
              "idempotency_key": spec.idempotency_key}
    with write.begin():
        action_id = audit.insert_action(write, status="requested", **fields)
    return audit.ActionRow(action_id, None, None, status="requested", request_id=None, stripe_object_id=None,
                           error=None, **fields)


def record_outcome(write: sa.Connection, request: audit.ActionRow, status: str, stripe_object_id: str | None,
                   error: str | None, on_success: OnSuccess | None = None,
                   answer: stripe.StripeObject | None = None) -> None:
    bookkeeping = on_success if status == "succeeded" else None
    if bookkeeping is not None:  # two statements: one transaction, not one commit each
        write.execution_options(isolation_level="READ COMMITTED")
    with write.begin():
        if bookkeeping is not None:
            bookkeeping(write, answer)
        audit.insert_action(write, admin_email=request.admin_email, action_type=request.action_type,
                            target_type=request.target_type, target_id=request.target_id,
                            idempotency_key=request.idempotency_key, status=status, reason=request.reason,
                            params=request.params, request_id=request.action_id,
                            stripe_object_id=stripe_object_id, error=error)


def stripe_message(exc: stripe.StripeError) -> str:
    """Stripe's own message for the admin: the user-facing one when Stripe gives it."""
    message = exc.user_message or getattr(exc, "_message", None) or str(exc)
    code = getattr(exc, "code", None)
    return f"{message} ({code})" if code else message


def perform(actions: Actions, conn: sa.Connection, user: User, spec: ActionSpec,
            validate: Callable[[sa.Connection], None],
            call: Callable[[str], stripe.StripeObject] | None, on_success: OnSuccess | None = None) -> ActionResult:
    """Run one action exactly once for its idempotency key; see the module's docstring.

    `conn` is the action's session (`Actions.session`), on which the caller has checked the person
    (`check_person`). `validate` raises ActionInvalid before anything is written; `call(idempotency_key)` talks
    to Stripe and returns the object whose id is recorded (None: a local decision, recorded as succeeded straight
    away).
    """
    if not spec.idempotency_key:
        raise ActionInvalid("The form has no idempotency key; reopen it.")
    conn.execute(sa.text("select pg_advisory_lock(hashtext(:target))"), {"target": spec.target_id})
    try:
        request, outcome = audit.request_and_outcome(conn, spec.idempotency_key)
        if request is not None and (request.action_type, request.target_id) != (spec.action_type, spec.target_id):
            raise ActionInvalid(f"This form already served {request.action_type} on {request.target_id}; "
                                "reopen it for a new action.")
        if outcome is not None:
            return _from_outcome(request, outcome, replayed=True)
        if request is None:
            _check_rate(conn, actions, user)
            validate(conn)
        else:
            log.info("resuming %s %s after an unfinished attempt", spec.action_type, spec.target_id)
        # Autocommit: a lone INSERT is its own transaction, one round trip instead of BEGIN, INSERT, COMMIT.
        with actions.writer.connect().execution_options(isolation_level="AUTOCOMMIT") as write:
            if request is None:
                request = record_request(write, user, spec)
            return _call_and_record(actions, write, request, call, on_success)
    finally:
        conn.execute(sa.text("select pg_advisory_unlock(hashtext(:target))"), {"target": spec.target_id})


def _check_rate(conn: sa.Connection, actions: Actions, user: User) -> None:
    recent = conn.execute(sa.text("""
        select count(*) from ops.admin_actions
        where admin_email = :email and status = 'requested' and created_at >= now() - interval '1 hour'
    """), {"email": user.email}).scalar_one()
    if recent >= actions.admin_actions_per_hour:
        raise ActionRefused(f"{user.email} has made {recent} actions in the last hour, the most allowed "
                            f"({actions.admin_actions_per_hour}); wait, or ask another admin.")


def _call_and_record(actions: Actions, write: sa.Connection, request: audit.ActionRow,
                     call: Callable[[str], stripe.StripeObject] | None, on_success: OnSuccess | None) -> ActionResult:
    answer, answer_id, error = None, None, None
    if call is not None:
        try:
            answer = actions.call_stripe(lambda: call(request.idempotency_key))
            answer_id = answer.id
        except stripe.StripeError as exc:
            answer_id, error = None, stripe_message(exc)
            log.warning("%s on %s failed at Stripe: %s", request.action_type, request.target_id, error)
    status = "failed" if error else "succeeded"
    record_outcome(write, request, status, answer_id, error, on_success, answer)
    return ActionResult(status, answer_id, error, request.action_id, replayed=False)
