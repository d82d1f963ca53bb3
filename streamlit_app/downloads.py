"""The Transactions page's CSV as a stream: rows go from a server-side cursor to the browser a batch at a time, so a
server's memory stays the same whatever the number of rows.

The page hands the signed-in user a link whose token, signed with the secret Streamlit signs its sign-in cookie
with, names them and the search; the route (mounted by server.py) checks the signature and age, that the user is
still active in ops.users, and streams `data.transactions_csv`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from streamlit.web.server.server_util import get_cookie_secret

from payops.users import User, find_user

if TYPE_CHECKING:
    import data

TRANSACTIONS_CSV_PATH = "downloads/transactions.csv"
LINK_MAX_AGE_SECONDS = 3600
"""As long as a pre-signed download link usually lives: the page may stay open a while before the click."""


def _signer() -> URLSafeTimedSerializer:
    # The deployment's cookie secret (auth.cookie_secret in secrets.toml): every server process of it shares it.
    return URLSafeTimedSerializer(get_cookie_secret(), salt="payops-transactions-csv")


def transactions_csv_link(user: User, search: data.TransactionSearch, file_name: str) -> str:
    """The link, relative to the page (so it follows server.baseUrlPath), that downloads the search as CSV."""
    token = _signer().dumps({"email": user.email, "search": search.as_json(), "file_name": file_name})
    return f"{TRANSACTIONS_CSV_PATH}?token={token}"


async def transactions_csv(request: Request) -> Response:
    try:
        link = _signer().loads(request.query_params.get("token", ""), max_age=LINK_MAX_AGE_SECONDS)
    except SignatureExpired:
        return PlainTextResponse("This download link has expired: reload the Transactions page and download again.",
                                 status_code=403)
    except BadSignature:
        return PlainTextResponse("This is not a download link of this app: download from the Transactions page.",
                                 status_code=403)
    # Imported here, not on top: server.py imports this module before Streamlit's runtime exists, and the data
    # module's cached readers must be made under the runtime (its cache storage), as the pages make them.
    import data

    settings = data.current_settings()
    user = await run_in_threadpool(lambda: find_user(data.reader_engine(settings), link["email"]))
    if user is None or not user.active:
        return PlainTextResponse(f"{link['email']} may no longer use payops: ask an admin for access.",
                                 status_code=403)
    search = data.TransactionSearch.from_json(link["search"])
    return StreamingResponse(data.transactions_csv(settings, search), media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="{link["file_name"]}"'})
