"""Deterministic demo data: a tutoring platform's purchases (schema `app`) and the Stripe events they produced.

Entry point: `demo.generate.generate_demo_data`.
"""
