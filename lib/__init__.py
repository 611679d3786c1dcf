"""Cluster virtualization manager after the Ganeti 2.1 design."""
