"""The seeds the built-in course's models train on (a module of its own, so the step
modules need nothing from the package that collects them)."""

from __future__ import annotations

# Seeds every course model trains: three show run-to-run noise; the final models use five.
THREE_SEEDS = (0, 1, 2)
