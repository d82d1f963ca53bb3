"""Reports: the notebook reports rendered so far (by Dagster or `payops reports render`), one shown inline,
with its HTML and executed notebook to download."""

import data
import streamlit as st

from payops.reports import REPORTS, rendered_reports

REPORT_HEIGHT = 1200

settings = data.current_settings()
st.title("Reports")

rendered = rendered_reports(settings)
if not rendered:
    st.info("No report has been rendered yet. Dagster renders them after each refresh, or run "
            "`payops reports render --period YYYY-MM`.", icon=":material/description:")
    st.stop()

kinds = [spec.name for spec in REPORTS.values() if any(r["report"] == spec.name for r in rendered)]
left, right = st.columns([2, 1])
with left:
    kind = st.segmented_control("Report", kinds, format_func=lambda name: REPORTS[name].title, default=kinds[0],
                                required=True, key="report")
of_kind = [r for r in rendered if r["report"] == kind]
with right:
    # Variants are '2026-06', '2026-06-eur', '2026-06-test': the period first, newest at the top.
    picked = st.selectbox("Period", [r["variant"] for r in of_kind], key="period")
report = next(r for r in of_kind if r["variant"] == picked)

st.caption(f"{len(rendered)} rendered report(s) in {settings.home / 'reports'}. Periods ending in -test are test "
           "mode, -<currency> one currency.")
downloads = st.container(horizontal=True)
downloads.download_button("HTML", report["html"].read_bytes(), file_name=f"{kind}-{picked}.html", mime="text/html",
                          icon=":material/download:")
if report["notebook"].exists():
    downloads.download_button("Notebook", report["notebook"].read_bytes(), file_name=f"{kind}-{picked}.ipynb",
                              mime="application/x-ipynb+json", icon=":material/download:")
if report["sidecar"].exists():
    with st.expander("Recorded figures"):
        st.json(report["sidecar"].read_text())
# Our own notebooks' output, rendered by payops: trusted to run in the iframe (nbconvert's page has its own CSS).
st.iframe(report["html"], height=REPORT_HEIGHT)
