"""The monitoring daemon's parts (``ganeti-mond``, port 1815 on every node).

- :mod:`ganeti.mond.sources`: what a node reads (/proc, hypervisors,
  lvm2, the config as the node knows it);
- :mod:`ganeti.mond.procfs`: parsers of the kernel's text files;
- :mod:`ganeti.mond.collectors`: the data collectors and Ganeti's report
  format;
- :mod:`ganeti.mond.node_metrics`: the node's Prometheus families;
- :mod:`ganeti.mond.app`: the HTTP resources.

The master daemon's own metrics live in :mod:`ganeti.master_metrics`;
the daemon main is :mod:`ganeti.server.mond`.  See
``doc/design/monitoring.rst``.
"""
