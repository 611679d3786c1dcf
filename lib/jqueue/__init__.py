"""The persistent job queue of the master daemon.

* :mod:`ganeti.jqueue.model` -- opcode/job states, the transition table,
  the job status rule, the job records and query fields;
* :mod:`ganeti.jqueue.storage` -- the queue directory and the group-commit
  writer;
* :mod:`ganeti.jqueue.queue` -- :class:`JobQueue`, its workers and
  :class:`OpContext`, the processor's view of its job;
* :mod:`ganeti.jqueue.submission` -- what a submission must be (job ids,
  priorities, opcodes, relative dependencies);
* :mod:`ganeti.jqueue.depends` -- job dependencies.

See ``doc/design/jobqueue.rst``.
"""

from ganeti.jqueue.model import (
    JOB_FIELDS,
    OP_TRANSITIONS,
    calc_job_status,
    check_transition,
)
from ganeti.jqueue.queue import (
    DEFAULT_WORKERS,
    JOB_NOTCHANGED,
    JobQueue,
    OpContext,
    Processor,
)
from ganeti.jqueue.submission import check_priority, parse_job_id

__all__ = [
    "DEFAULT_WORKERS",
    "JOB_FIELDS",
    "JOB_NOTCHANGED",
    "OP_TRANSITIONS",
    "JobQueue",
    "OpContext",
    "Processor",
    "calc_job_status",
    "check_priority",
    "check_transition",
    "parse_job_id",
]
