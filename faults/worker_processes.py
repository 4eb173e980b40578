"""Campaign rounds in processes of their own, a few at a time, their figures back as JSON.

``python -m MODULE --worker ARGS...`` runs one round and prints its figures as one JSON
object on its last line (``print_figures``). Plain subprocesses, not ``multiprocessing``: a
spawned child re-imports the parent's main module, which a runner need not guard, and a
forked one would copy the locks of the parent's threads.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

WORKER_FLAG = "--worker"
ROOT = Path(__file__).resolve().parents[1]  # where ``faults`` is: it is not installed


class WorkerError(RuntimeError):
    pass


def run_workers(module: str, rounds: list[list[str]], parallel: int) -> list[dict[str, Any]]:
    """Each round's figures, in order; WorkerError (with its stderr) if one fails."""
    results: list[dict[str, Any]] = []
    for first in range(0, len(rounds), max(1, parallel)):
        batch = [
            subprocess.Popen(
                [sys.executable, "-m", module, WORKER_FLAG, *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
            )
            for args in rounds[first : first + parallel]
        ]
        for process, args in zip(batch, rounds[first : first + parallel], strict=True):
            out, err = process.communicate()
            lines = out.decode(errors="replace").strip().splitlines()
            if process.returncode != 0 or not lines:
                tail = err.decode(errors="replace").strip().splitlines()[-5:]
                raise WorkerError(
                    f"{module} {' '.join(args)} exited {process.returncode}: {' | '.join(tail)}"
                )
            results.append(json.loads(lines[-1]))
    return results


def print_figures(figures: DataclassInstance) -> int:
    """The worker's end: a dataclass's fields as one JSON line."""
    print(json.dumps(dataclasses.asdict(figures)))
    return 0
