"""What every driver does around its runs: pin itself, make a scratch directory, stop every process
it started however it ends, and publish the report."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchkit.processes import stop_all
from benchkit.system import CLIENT_CPU, REPO_ROOT, log, raise_nofile


def command_line(script: str, argv: list[str] | None) -> str:
    """The driver's command line as the report shows it, with paths relative to the repository."""
    python = sys.executable
    if python.startswith(str(REPO_ROOT)):
        python = os.path.relpath(python, REPO_ROOT)
    return " ".join([python, os.path.relpath(script, REPO_ROOT), *(argv or sys.argv[1:])])


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def session(prefix: str, pin: bool, profile_dir: Path | None, keep: bool) -> Iterator[Path]:
    """The driver's set-up for its runs; yields the scratch directory (server logs, databases).

    The driver (the load client) is pinned to CLIENT_CPU. SIGTERM ends the runs as Ctrl-C does, so
    that the `finally` blocks stop the servers; on the way out every server still running is stopped.
    """
    if pin:
        os.sched_setaffinity(0, {CLIENT_CPU})
    raise_nofile()
    if profile_dir:
        profile_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield workdir
    finally:
        stop_all()
        if keep:
            log(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def publish(report: str, output: Path | None) -> None:
    print(report)
    if output is not None:
        output.write_text(report)
        log(f"wrote {output}")


def save_json(path: Path | None, machine: dict[str, str], command: str, options: Any, results: Any) -> None:
    """The raw figures, which `--from-json` renders again."""
    if path is not None:
        saved = {"machine": machine, "command": command, "options": options, "results": results}
        path.write_text(json.dumps(saved, indent=1))
