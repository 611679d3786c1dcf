"""Job resources: list, status, cancel, and the long poll."""

from __future__ import annotations

from typing import Any, Final

from ganeti import jqueue
from ganeti.rapi import ACCESS_WRITE, base
from ganeti.rapi.base import Resource, bad_request, not_found

#: Fields of each job in ``/2/jobs?bulk=1`` (Ganeti's).
J_FIELDS_BULK: Final = ["id", "ops", "status", "summary", "opstatus",
                        "received_ts", "start_ts", "end_ts"]
#: Fields of ``/2/jobs/J`` (Ganeti's, plus the job's current priority).
J_FIELDS: Final = [*J_FIELDS_BULK, "oplog", "opresult", "priority"]


def _row_dict(fields: list[str], row: list[Any]) -> dict[str, Any]:
    return dict(zip(fields, row, strict=True))


class Jobs(Resource):
    DOC = "Jobs (bulk: with details)"
    QUERY = {"GET": {"bulk": "bool"}}

    def GET(self) -> Any:
        fields = J_FIELDS_BULK if self.ctx.bulk else ["id"]
        with self.ctx.luxi() as client:
            rows = client.query_jobs(None, fields)
        rows = [row for row in rows if row is not None]
        if self.ctx.bulk:
            return [_row_dict(fields, row) for row in rows]
        return base.uri_list([row[0] for row in rows], "/2/jobs/%s")


class Job(Resource):
    """``GET`` the job's fields, ``DELETE`` to cancel it."""

    DOC = "One job"
    ANSWERS_RESULT = True

    def _job_id(self) -> int:
        return int(self.item())

    def GET(self) -> Any:
        with self.ctx.luxi() as client:
            (row,) = client.query_jobs([self._job_id()], J_FIELDS)
        if row is None:
            raise not_found(f"Job {self.item()} not found")
        return _row_dict(J_FIELDS, row)

    def DELETE(self) -> Any:
        with self.ctx.luxi() as client:
            return client.cancel_job(self._job_id())


class JobWait(Resource):
    """``GET`` with ``{"fields", "previous_job_info", "previous_log_serial"}``:
    waits (up to 10 s) until the fields change or log entries arrive;
    answers ``{"job_info", "log_entries"}`` or null when nothing changed.
    Needs ``write`` access (it holds a connection), as in later Ganeti."""

    DOC = "Wait for a job to change"
    BODY = {"GET": {"type": "object", "additionalProperties": False,
                    "required": ["fields"],
                    "properties": {
                        "fields": {"type": "array", "minItems": 1,
                                   "items": {"type": "string"}},
                        "previous_job_info": {"type": "array",
                                              "nullable": True},
                        "previous_log_serial": {"type": "integer",
                                                "minimum": 0,
                                                "nullable": True}}}}
    GET_ACCESS = (ACCESS_WRITE,)

    def GET(self) -> Any:
        body = self.ctx.body_dict()
        fields = body.get("fields")
        if not isinstance(fields, list) or not fields or not all(
                isinstance(f, str) for f in fields):
            raise bad_request("The 'fields' parameter must be a non-empty "
                              "list of job field names")
        prev_info = body.get("previous_job_info")
        if prev_info is not None and not isinstance(prev_info, list):
            raise bad_request("The 'previous_job_info' parameter must be a "
                              "list or null")
        prev_serial = body.get("previous_log_serial")
        if prev_serial is not None and (
                isinstance(prev_serial, bool) or not isinstance(prev_serial, int)
                or prev_serial < 0):
            raise bad_request("The 'previous_log_serial' parameter must be a "
                              "non-negative number or null")
        unknown = sorted(set(body) - {"fields", "previous_job_info",
                                      "previous_log_serial"})
        if unknown:
            raise bad_request(f"Unknown body parameter(s): {', '.join(unknown)}")
        with self.ctx.luxi() as client:
            result = client.wait_for_job_change(
                int(self.item()), fields, prev_info, prev_serial,
                base.WFJC_TIMEOUT)
        if result == jqueue.JOB_NOTCHANGED:
            return None
        job_info, log_entries = result
        return {"job_info": job_info, "log_entries": log_entries}
