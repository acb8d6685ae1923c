"""Notifications: alerts that reach staff whose page is closed.

Web Push to the browsers of a facility's staff, and a signed webhook for the operator's SMS /
WhatsApp gateway (docs/notifications.md).
"""
