"""Referrals between rujuk deployments: who the others are, the outbox, delivery and the way back."""
