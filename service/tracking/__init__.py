"""Tracking and dispatch: devices, positions in Redis, the registry, nearest by road, assignment."""
