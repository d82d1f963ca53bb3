"""Watching the Stripe feed: a lag and health sensor, asset checks on raw.stripe_events, and where alerts go."""
