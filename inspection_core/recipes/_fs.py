"""File-system helpers the store and the archives share: durable renames, the modes files get, and
temp names that say who made them (so leftovers of a killed save can be told apart and cleaned)."""

from __future__ import annotations

import os
import re
import socket
import stat
import time
from pathlib import Path

from inspection_core.runtime.atomic import fsync_path, share

STALE_AFTER_S = 3600.0  # a save never takes this long: leftovers this old belong to nobody
_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"
_TAG_RE = re.compile(r"^(?P<host>[A-Za-z0-9]+)\.(?P<pid>\d+)\.")


def fsync_tree(path: Path) -> None:
    for p in sorted(path.rglob("*")):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
    fsync_path(path)


def share_tree(path: Path) -> None:
    share(path)
    for p in path.rglob("*"):
        if not p.is_symlink():
            share(p)


def temp_prefix(kind: str) -> str:
    """`.<kind>-<host>.<pid>.`: a temp name that tells `is_abandoned` whose it is."""
    return f".{kind}-{_HOST}.{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else
    return True


def age_s(path: Path) -> float:
    """Seconds since the entry was last created, renamed or changed (ctime: copytree keeps an old
    mtime, a rename or chmod does not survive as an old ctime)."""
    st = path.lstat()
    return time.time() - max(st.st_mtime, st.st_ctime)


def is_abandoned(path: Path, kind: str, stale_after_s: float = STALE_AFTER_S) -> bool:
    """True for a `.<kind>-…` temp entry whose maker is provably dead (same host, pid gone) or that is
    older than any save takes. Anything else — another name, a live maker — is not ours to touch."""
    prefix = f".{kind}-"
    if not path.name.startswith(prefix):
        return False
    try:
        if stat.S_ISLNK(path.lstat().st_mode):
            return False
        m = _TAG_RE.match(path.name[len(prefix) :])
        if m and m["host"] == _HOST and int(m["pid"]) != os.getpid() and not _pid_alive(int(m["pid"])):
            return True
        return age_s(path) > stale_after_s
    except OSError:
        return False
