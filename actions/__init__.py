"""Admin actions on payments (refunds, dispute responses, fraud flags, payment retries): plain Python that
Streamlit's forms and the CLI call, with idempotency keys and an append-only audit trail. Empty until the
admin-actions issue lands; the foundation keeps the package so the layout is settled."""
