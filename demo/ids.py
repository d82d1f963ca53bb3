"""Stripe-looking identifiers drawn from the seeded generator, so a seed always yields the same ids."""

from __future__ import annotations

import random
import string
import uuid

ALPHANUM = string.ascii_letters + string.digits
# Objects made through PaymentIntents carry a "3" after the prefix; older object families a "1".
_ERA = {"pi": "3", "ch": "3", "re": "3", "evt": "3", "txn": "3"}


class StripeIds:
    """ids such as ch_3Pq8rT<account>x9Yk2LmQ: era digit, 5 random, a 10-character account tag, 8 random."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._account = self.token(10)

    def token(self, length: int) -> str:
        return "".join(self._rng.choices(ALPHANUM, k=length))

    def new(self, prefix: str) -> str:
        return f"{prefix}_{_ERA.get(prefix, '1')}{self.token(5)}{self._account}{self.token(8)}"

    def idempotency_key(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def request(self) -> dict[str, str | None]:
        """The `request` of events caused by one API call (they share it)."""
        return {"id": f"req_{self.token(14)}", "idempotency_key": self.idempotency_key()}


NO_REQUEST: dict[str, str | None] = {"id": None, "idempotency_key": None}
"""The `request` of events Stripe caused itself (disputes, expiries, refunds settling)."""
