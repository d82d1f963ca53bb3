"""The app's server: `streamlit run streamlit_app/server.py`. Streamlit's own server for the pages (app.py), plus the
one route Streamlit lacks: the Transactions page's CSV, streamed (st.download_button holds a whole file in memory,
its deferred callable's too)."""

import downloads
import streamlit as st
from starlette.routing import Route

app = st.App("app.py", routes=[Route(f"/{downloads.TRANSACTIONS_CSV_PATH}", downloads.transactions_csv)])
