"""A local stand-in for Stripe's `GET /v1/events`, `/v1/balance_transactions` and `/v1/payouts`, so the real SDK
can be tested without reaching Stripe.

It answers in Stripe's list shape, newest first, honouring `limit`, `starting_after` and `created[gte]` (and
`payout` for balance transactions: the ones that payout carried), and checks the Bearer key. It records every
request, and can be told to fail part way through a listing.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

DEFAULT_LIMIT = 10  # Stripe's own default page size


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]
    """the query string as sent, e.g. {"created[gte]": "1780000000", "limit": "100"}"""
    authorization: str | None


class StripeEventsServer:
    def __init__(self, api_key: str):
        self.api_key = api_key
        self.events: list[dict] = []
        self.balance_transactions: list[dict] = []
        self.payouts: list[dict] = []
        self.payout_transactions: defaultdict[str, list[str]] = defaultdict(list)
        """payout id -> ids of the balance transactions it carried"""
        self.requests: list[RecordedRequest] = []
        self.pages_served = 0
        self._fail_after_pages: int | None = None
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"

    def add_events(self, *events: dict) -> None:
        with self._lock:
            self.events.extend(events)

    def add_balance_transactions(self, *transactions: dict) -> None:
        with self._lock:
            self.balance_transactions.extend(transactions)

    def add_payout(self, payout: dict, carried: list[str]) -> None:
        with self._lock:
            self.payouts.append(payout)
            self.payout_transactions[payout["id"]].extend(carried)

    def fail_after(self, pages: int | None) -> None:
        """Answer HTTP 500 once `pages` more pages have been served; None serves every page again."""
        with self._lock:
            self._fail_after_pages = None if pages is None else self.pages_served + pages

    def event_list_requests(self) -> list[RecordedRequest]:
        return self.list_requests("/v1/events")

    def list_requests(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> None:
        threading.Thread(target=self._http.serve_forever, name="stripe-events-server", daemon=True).start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def respond(self, request: RecordedRequest) -> tuple[int, dict[str, str], dict]:
        with self._lock:
            self.requests.append(request)
            if request.authorization != f"Bearer {self.api_key}":
                return 401, {}, _error("invalid_request_error", "Invalid API Key provided")
            listed = {"/v1/events": self.events, "/v1/balance_transactions": self.balance_transactions,
                      "/v1/payouts": self.payouts}.get(request.path)
            if request.method != "GET" or listed is None:
                return 404, {}, _error("invalid_request_error", f"Unrecognized request URL ({request.path})")
            if self._fail_after_pages is not None and self.pages_served >= self._fail_after_pages:
                # Stripe marks most 500s as not worth retrying; honouring that keeps the SDK from sleeping.
                return 500, {"Stripe-Should-Retry": "false"}, _error("api_error", "Simulated failure mid-listing")
            if "payout" in request.params:
                carried = set(self.payout_transactions.get(request.params["payout"], ()))
                listed = [txn for txn in listed if txn["id"] in carried]
            status, body = _page(listed, request.path, request.params)
            self.pages_served += status == 200
            return status, {}, body


def _page(objects: list[dict], path: str, params: dict[str, str]) -> tuple[int, dict]:
    newest_first = sorted(objects, key=lambda o: (o["created"], o["id"]), reverse=True)
    if "created[gte]" in params:
        newest_first = [o for o in newest_first if o["created"] >= int(params["created[gte]"])]
    if "starting_after" in params:
        ids = [o["id"] for o in newest_first]
        if params["starting_after"] not in ids:
            return 400, _error("invalid_request_error", f"No such object: '{params['starting_after']}'")
        newest_first = newest_first[ids.index(params["starting_after"]) + 1:]
    limit = int(params.get("limit", DEFAULT_LIMIT))
    return 200, {"object": "list", "data": newest_first[:limit], "has_more": len(newest_first) > limit, "url": path}


def _error(error_type: str, message: str) -> dict:
    return {"error": {"type": error_type, "message": message}}


def _handler_for(server: StripeEventsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def _answer(self) -> None:
            url = urlsplit(self.path)
            request = RecordedRequest(self.command, url.path, dict(parse_qsl(url.query)),
                                      self.headers.get("Authorization"))
            status, headers, body = server.respond(request)
            encoded = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the request log is what tests read; stderr noise helps no one

    return Handler


@contextmanager
def stripe_events_server(api_key: str) -> Iterator[StripeEventsServer]:
    server = StripeEventsServer(api_key)
    server.start()
    try:
        yield server
    finally:
        server.stop()
