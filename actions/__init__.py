"""Admin actions: refunds, dispute responses, fraud decisions, payment retries and reconciliation fixes.

Plain Python over the official stripe SDK (StripeClient, base address from STRIPE_API_BASE). Every service
checks the person itself (an active admin, a fresh TOTP code for money), runs exactly once per form
(`service.perform`) and leaves an append-only, hash-chained trail in ops.admin_actions (`audit`).
"""
