"""Atomic file writes: a crash (or kill -9, or a full disk) leaves the old file or the new one, never
half of one. The one place the temp-file + fsync + rename idiom lives; files it writes get the mode a
plain open() would give (mkstemp's 0600 would lock the station's other accounts out)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries (a rename inside it), to disk; a no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def umask() -> int:
    """The process umask without changing it (os.umask can only be read by setting it, which races
    with other threads creating files); falls back to that where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def share(path: Path) -> None:
    """Give a file or folder the mode a plain open()/mkdir() would (0666/0777 less the umask): mkstemp
    and mkdtemp make them private (0600/0700), which locks other station accounts of the group out."""
    base = 0o777 if path.is_dir() else 0o666
    os.chmod(path, base & ~umask())


@contextlib.contextmanager
def atomic_writer(
    path: str | os.PathLike[str], mode: str = "wb", error: type[Exception] = OSError
) -> Iterator[IO[Any]]:
    """A file handle on a temp file beside `path`; when the block ends without an exception the file
    is flushed, fsynced and renamed over `path` (and the rename made durable). On any failure the temp
    file is removed and `path` is untouched; an OSError becomes `error` with one clear line."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        share(Path(tmp))
        os.replace(tmp, p)
        fsync_path(p.parent)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, error):
            raise error(f"cannot write {p}: {exc.strerror or exc}") from exc
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, error: type[Exception] = OSError) -> None:
    """Write bytes so that a crash leaves either the old file or the new one, never half of one."""
    with atomic_writer(path, "wb", error) as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, error: type[Exception] = OSError) -> None:
    """Write text so that a crash leaves either the old file or the new one, never half of one."""
    with atomic_writer(path, "w", error) as fh:
        fh.write(text)
