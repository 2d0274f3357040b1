"""User-facing errors: one clear line that says what is wrong and what to do.

The command line catches :class:`CourseError` and prints only its message (no
traceback unless ``--debug``), then exits with :attr:`CourseError.exit_code`.
"""

from __future__ import annotations


class CourseError(Exception):
    """A problem the user can fix; the message says how."""

    exit_code = 1


class UsageError(CourseError):
    """A bad command-line value (unknown model id, bad number, unknown device)."""

    exit_code = 2


class DataError(CourseError):
    """MNIST is missing, truncated or not what it claims to be."""

    exit_code = 2


class ResultsError(CourseError):
    """A results file cannot be trusted (truncated, not JSON, unknown schema)."""

    exit_code = 3


class DivergedError(CourseError):
    """Training produced a NaN or infinite loss."""

    exit_code = 4
