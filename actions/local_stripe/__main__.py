"""`python -m actions.local_stripe --port 8420 [--seed]`: serve the local Stripe on 127.0.0.1 until stopped.

--seed loads the warehouse's succeeded charges and their disputes (raw.stripe_charges, raw.stripe_disputes)
under their own ids first, so the demo's admin forms act on what its dashboards show.
"""

import argparse

import sqlalchemy as sa
from aiohttp import web

from actions.local_stripe.server import build_app, seed

SEED_LIMIT = 5000
"""The newest charges only: enough for a demo, quick to start."""

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--port", type=int, default=8420)
parser.add_argument("--seed", action="store_true", help="Load the warehouse's charges and disputes first.")
args = parser.parse_args()
app = build_app()
if args.seed:
    from payops.db import engine

    with engine().connect() as conn:
        charges = [row.object for row in conn.execute(sa.text(
            "select object from raw.stripe_charges where object ->> 'status' = 'succeeded' "
            "order by last_event_created_at desc limit :limit"), {"limit": SEED_LIMIT})]
        known = {c["id"] for c in charges}
        seen = [row.object for row in conn.execute(sa.text("select object from raw.stripe_disputes"))
                if row.object.get("charge") in known]
    print(f"local Stripe: {seed(charges, seen)} objects from the warehouse", flush=True)
web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)
