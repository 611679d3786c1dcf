"""ganeti-confd: configuration queries over signed UDP (Ganeti 2.1's confd).

The modules:

- :mod:`ganeti.confd.protocol` -- the wire format: the ``plj0`` magic, the
  HMAC-SHA1 signed JSON envelope, requests and replies, and the numbers
  below (request types, statuses, node roles, error codes);
- :mod:`ganeti.confd.index` -- the answers, precomputed from
  ``config.data`` into dictionaries when the daemon loads it;
- :mod:`ganeti.confd.server` -- one datagram in, one signed reply (or
  nothing) out, with counters of what was dropped and why; the UDP loop
  and the config reloader;
- :mod:`ganeti.confd.client` -- asks several master candidates and keeps
  the answer with the highest config serial.

See ``doc/design/confd.rst`` for the protocol and ganeti-confd(8).
"""
