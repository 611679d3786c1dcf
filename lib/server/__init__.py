"""Daemon mains: masterd, noded, rapi."""
