"""Referrals: suggestions, the letter and its lifecycle, escalation, attachments, live feed, reports."""
