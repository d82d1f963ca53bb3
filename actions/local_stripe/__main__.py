"""`python -m actions.local_stripe --port 8420`: serve the local Stripe on 127.0.0.1 until stopped."""

import argparse

from aiohttp import web

from actions.local_stripe.server import build_app

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--port", type=int, default=8420)
args = parser.parse_args()
web.run_app(build_app(), host="127.0.0.1", port=args.port, access_log=None, print=None)
