"""Shared utilities: files, locks, processes, text, retries.

Nothing is re-exported here on purpose; callers import the submodule they
need (``from ganeti.utils import io``) so that importing one helper never
drags in the others.
"""
