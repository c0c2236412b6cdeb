"""What both reports share: number formats, the machine and command sections, and command lines
with their secrets and scratch paths left out."""

from __future__ import annotations

import os
import shlex
import tempfile
from pathlib import Path

from benchkit.system import REPO_ROOT


def fmt_int(value: float) -> str:
    return f"{value:,.0f}"


def shorten(arg: str) -> str:
    """One command-line argument as a report shows it: a secret replaced, paths made short."""
    if len(arg) > 40 and "/" not in arg:
        return "<secret>"
    if arg.startswith(str(REPO_ROOT)):
        return os.path.relpath(arg, REPO_ROOT)
    if arg.startswith(tempfile.gettempdir()):
        return "<scratch>/" + Path(arg).name
    return arg


def shell_line(cmd: list[str]) -> str:
    return " ".join(shlex.quote(shorten(a)) if a == "" or " " in a else shorten(a) for a in cmd)


def machine_and_command(machine: dict[str, str], command: str) -> list[str]:
    """The `Machine` and `Command` sections."""
    out = ["## Machine\n"]
    out += [f"- {key}: {value}" for key, value in machine.items()]
    out.append("\n## Command\n")
    out.append(f"```\n{command}\n```\n")
    return out
