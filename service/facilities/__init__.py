"""Facilities: the dataset's facilities and road network, live status, monthly volumes."""
