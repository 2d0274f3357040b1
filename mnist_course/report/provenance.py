"""Where each stored run came from, for the Reproduce page: the recorded build that trained
it (``course_build.json``), or, for a run trained outside one, its own provenance.

A build lists the runs it trained by name ("s3_final seed 0"); a later build that retrains
a run lists it again and the file keeps only the newest run. So a run belongs to the build
that lists it *and* whose time span holds the run's start; a run no build holds was trained
on its own (``mnist-course train``) or copied from a design sweep (``trained_as``).
Torch-free: records and builds are JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

# A run's clock and its build's are the same machine's; this allows for the seconds between
# the build's start and its first run, and for a last run finishing as the build is stamped.
_CLOCK_SLACK = timedelta(minutes=2)


def parse_time(text: object) -> datetime | None:
    """An ISO 8601 time as an aware datetime (UTC when it names no zone); None if unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def readable_time(text: object) -> str:
    """"2026-12-04T03:12:41+00:00" -> "4 Dec 2026, 03:12 UTC"; "–" when unreadable."""
    moment = parse_time(text)
    if moment is None:
        return "–"
    moment = moment.astimezone(timezone.utc)
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def run_name(record: dict) -> str:
    """How a build lists a run: "s3_final seed 0"."""
    return f"{record.get('model_id')} seed {record.get('seed')}"


def build_span(build: dict) -> tuple[datetime, datetime] | None:
    start = parse_time(build.get("started_at"))
    if start is None:
        return None
    wall = build.get("wall_seconds")
    seconds = float(wall) if isinstance(wall, int | float) else 0.0
    return start - _CLOCK_SLACK, start + timedelta(seconds=seconds) + _CLOCK_SLACK


def build_of(record: dict, builds: list[dict]) -> int | None:
    """The index in ``builds`` of the build that trained ``record``, or None.

    The build must list the run and its time span must hold the run's start; a run
    without a readable start belongs to the newest build that lists it."""
    name = run_name(record)
    started = parse_time((record.get("provenance") or {}).get("started_at"))
    for index in reversed(range(len(builds))):
        build = builds[index]
        if name not in (build.get("runs") or []):
            continue
        span = build_span(build)
        if started is None or (span is not None and span[0] <= started <= span[1]):
            return index
    return None


@dataclass
class BuildRow:
    number: int  # 1 for the oldest build
    build: dict
    started: str  # readable
    stored: list[dict] = field(default_factory=list)  # its runs that are still stored


@dataclass
class RunRow:
    record: dict
    build: int | None  # the build's number, None for a run trained outside a build
    finished: str  # readable
    machine: str  # "cpu (AMD EPYC), 1 thread"

    @property
    def provenance(self) -> dict:
        return self.record.get("provenance") or {}


def machine(provenance: dict) -> str:
    """The device and threads a run used: "cpu (AMD EPYC), 1 thread"."""
    device = str(provenance.get("device") or "?")
    name = provenance.get("device_name")
    threads = provenance.get("threads")
    text = f"{device} ({name})" if name else device
    if isinstance(threads, int):
        text += f", {threads} thread{'' if threads == 1 else 's'}"
    return text


def origins(records: list[dict], builds: list[dict]) -> dict:
    """The Reproduce page's accounting: ``runs`` (every record, with the build that
    trained it), ``builds`` (each with its runs still stored), ``outside`` (the runs no
    recorded build trained) and ``trained_as`` (model id -> [(seeds, note)]) for runs
    copied from elsewhere."""
    build_rows = [BuildRow(k + 1, build, readable_time(build.get("started_at")))
                  for k, build in enumerate(builds)]
    runs = []
    for record in records:
        index = build_of(record, builds)
        provenance = record.get("provenance") or {}
        if index is not None:
            build_rows[index].stored.append(record)
        runs.append(RunRow(record, None if index is None else index + 1,
                           readable_time(provenance.get("finished_at")), machine(provenance)))
    trained_as: dict[str, dict[str, list[int]]] = {}
    for row in runs:
        note = row.provenance.get("trained_as")
        if note:
            seeds = trained_as.setdefault(str(row.record.get("model_id")), {})
            seeds.setdefault(str(note), []).append(row.record.get("seed"))
    return {"runs": runs, "builds": build_rows,
            "outside": [row for row in runs if row.build is None],
            "trained_as": {model: [(seeds, note) for note, seeds in notes.items()]
                           for model, notes in trained_as.items()}}


__all__ = ["build_of", "machine", "origins", "parse_time", "readable_time", "run_name"]
