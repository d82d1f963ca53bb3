"""Money as finance sees it: Stripe's balance transactions and payout itemizations, synced on a schedule."""
