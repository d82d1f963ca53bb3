"""payops dashboard: `streamlit run streamlit_app/app.py`. Routes to the pages and frames them with the sidebar."""

import data
import streamlit as st

from payops.settings import SettingsError

st.set_page_config(page_title="payops", page_icon=":material/payments:", layout="wide")

# A new page is one file in pages/ and one line here.
PAGES = {
    "Payments": [
        st.Page("pages/overview.py", title="Overview", icon=":material/monitoring:", default=True),
    ],
}

page = st.navigation(PAGES)

try:
    settings = data.current_settings()
except SettingsError as exc:
    st.error(str(exc))
    st.stop()

with st.sidebar:
    st.caption("Warehouse")
    st.code(data.warehouse_label(settings), language=None, wrap_lines=True)
    st.caption("Reporting time zone")
    st.markdown(f"**{settings.timezone}**")

page.run()
