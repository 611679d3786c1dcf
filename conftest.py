"""Make ``import ganeti`` work from a plain checkout (no build step).

``pylib/ganeti`` is a committed symlink to ``lib/``; putting ``pylib`` on
``sys.path`` is all a checkout needs.
"""

import os
import sys

_PYLIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pylib")
if _PYLIB not in sys.path:
    sys.path.insert(0, _PYLIB)
