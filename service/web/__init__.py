"""The web pages: one per user (referring staff, receiving hospital, dispatcher, planner)."""
