"""Accounts: staff sign-in, who is signed in, new accounts."""
