"""Who holds a claim: the process behind it, so a dead holder's claims come back at once.

A claim on a problem records the holder's host, pid and process start time. On the holder's own
host anyone can tell whether it still runs: a pid that is gone, or that now belongs to a newer
process (a different start time: the pid was reused), means the holder is dead and its claims
can be taken over without waiting for the lease to run out. A holder on another host cannot be
checked from here; its claims are kept until their (short, heartbeat-renewed) lease expires.
"""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class ClaimHolder(BaseModel):
    """One process that holds claims (an `--auto` run or a review session)."""

    model_config = ConfigDict(frozen=True)

    owner: str
    """Unique per run or session (what `claimed_by` stores): two sessions of one user never share a claim."""
    label: str
    """Who it is, for people: "auto alice@box pid 123", "review alice@box pid 456"."""
    host: str
    """The host name and pid namespace (`this_host`): where `pid` can be looked up."""
    pid: int
    started: int | None = None
    """The process start time (clock ticks since boot, /proc/<pid>/stat field 22); None where unknown."""

    @classmethod
    def this_process(cls, kind: str, name: str | None = None) -> ClaimHolder:
        """The holder for this process: `kind` is "auto" or "review", `name` the user (login name by default)."""
        hostname, pid = socket.gethostname(), os.getpid()
        name = name or _login_name()
        return cls(
            owner=f"{kind}:{name}:{hostname}:{pid}:{uuid.uuid4().hex[:8]}",
            label=f"{kind} {name}@{hostname} pid {pid}",
            host=this_host(),
            pid=pid,
            started=process_start_time(pid),
        )


class HeldClaims(BaseModel):
    """Claims one other holder has on problems a run could work: how many, and until when."""

    holder: str
    """The holder's label (or its owner id, for a claim made without one)."""
    count: int
    until: str
    """When the last of them expires unless renewed (ISO timestamp, UTC)."""


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return str(os.getuid())


def this_host() -> str:
    """Where a pid means something: the host name, plus the pid namespace where procfs names it.

    Containers sharing the host's name (`--network host`) have pid namespaces of their own: a pid
    from one of them is not looked up in another (their claims wait for the lease, like a remote one's)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")  # e.g. "pid:[4026531836]"
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()} {namespace}"


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from field 3 (state) on; None without procfs or without that process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read().decode("ascii", "replace")
    except OSError:
        return None
    # Field 2 is the command name in parentheses and may itself hold spaces and parentheses.
    return text[text.rfind(")") + 2 :].split()


def process_start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    try:
        return int(fields[19]) if fields else None  # field 22
    except (IndexError, ValueError):
        return None


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def holder_is_dead(pid: int, started: int | None) -> bool:
    """Whether the process that held a claim on this host is gone (pid free, a zombie, or reused)."""
    if pid <= 0 or not _pid_exists(pid):
        return True
    fields = _stat_fields(pid)
    if fields is None:  # no procfs: the pid is alive, which is all we can know
        return False
    if fields[0] in ("Z", "X"):  # killed but not yet reaped by its parent
        return True
    now_started = process_start_time(pid)
    return started is not None and now_started is not None and now_started != started


def local_time(iso_utc: str) -> str:
    """An ISO timestamp from the database as local wall-clock time, HH:MM:SS."""
    try:
        return datetime.fromisoformat(iso_utc).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return iso_utc
