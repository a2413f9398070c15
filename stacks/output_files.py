"""Files a command writes where the user says (`--json FILE`, `--out FILE.png`, ...): checked
before any work, then written atomically.

`output_file_problem` says why a path cannot be such a file (a folder, a wrong extension, a
missing or unwritable folder, a read-only or special file), so the command exits 2 before it
starts. `atomic_output` hands out a temporary file beside the target and moves it over the
target only when writing succeeded: a failure (disk full, Ctrl-C, a crash while drawing)
never leaves a half-written file and never destroys an earlier good one.
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

from stacks.errors import Problem

PathLike = Union[str, "os.PathLike[str]"]


def _nearest_existing(path: Path) -> Path:
    return next(p for p in (path, *path.parents) if p.exists() or p.is_symlink())


def _cannot_write_in(folder: Path) -> Optional[str]:
    """Why no file can be created in `folder` (None: one can). Tries it: permission bits do not
    tell root about a read-only mount, and os.access does not tell anyone about a full quota."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot write in folder {folder} (permission denied)"
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".swan-write-test-")
    except OSError as exc:
        return f"cannot write in folder {folder} ({exc.strerror or exc})"
    os.close(fd)
    os.unlink(probe)
    return None


def output_file_problem(option: str, path: Optional[PathLike], extensions: Sequence[str], *,
                        create_parents: bool = False) -> Optional[Problem]:
    """Why `path` cannot be the file `option` writes (None: it can, or no path was given).

    `extensions` are the accepted endings (".json"; case-insensitive). The folder must exist,
    unless `create_parents` (a default path such as build/x.png), when the nearest existing
    folder above it must be writable. An existing file is replaced only if it is a regular,
    writable file. Nothing is created or changed."""
    if path is None:
        return None
    text = os.fspath(path)

    def bad(message: str) -> Problem:
        return Problem(option, "", f"{text}: {message}" if text else message)

    if not text.strip():
        return bad("no file name given")
    target = Path(text)
    wanted = " or ".join(extensions)
    if target.is_dir() or text.endswith(os.sep):
        return bad(f"is a folder; name a file (ending in {wanted}) to write")
    if extensions and not target.name.lower().endswith(tuple(e.lower() for e in extensions)):
        return bad(f"must end in {wanted}")
    if target.exists() or target.is_symlink():
        try:
            mode = target.stat().st_mode
        except OSError as exc:  # a dangling symlink, a loop
            return bad(f"cannot be replaced ({exc.strerror or exc})")
        if not stat.S_ISREG(mode):
            return bad("exists and is not a regular file")
        if not os.access(target, os.W_OK):
            return bad("exists and is read-only; nothing was changed")
    folder = target.parent
    if not folder.is_dir():
        existing = _nearest_existing(folder)
        if not existing.is_dir():
            return bad(f"{existing} is not a folder")
        if not create_parents:
            return bad(f"folder {folder} does not exist")
        folder = existing
    reason = _cannot_write_in(folder)
    return bad(reason) if reason else None


def check_output_files(items: Sequence[tuple[str, Optional[PathLike], Sequence[str]]],
                       problems: list[Problem]) -> None:
    """Append a problem for every (option, path, extensions) that cannot be written."""
    for option, path, extensions in items:
        problem = output_file_problem(option, path, extensions)
        if problem is not None:
            problems.append(problem)


def output_folder_problem(option: str, path: Optional[PathLike], *, writable: bool = True) -> Optional[Problem]:
    """Why `path` cannot be a folder `option` writes into (None: it can; missing folders are
    created, under a writable existing one). `writable=False`: only that no file is in the way."""
    if path is None:
        return None
    text = os.fspath(path)
    target = Path(text)
    existing = _nearest_existing(target)
    if not existing.is_dir():
        where = "is a file, not a folder" if existing == target else f"{existing} is not a folder"
        return Problem(option, "", f"{text}: {where}")
    reason = _cannot_write_in(existing) if writable else None
    return Problem(option, "", f"{text}: {reason}") if reason else None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: PathLike) -> Iterator[Path]:
    """A temporary file beside `path` to write to; moved over `path` when the block ends
    without an exception, removed otherwise (so `path` keeps its earlier content).

    The temporary name ends in `.tmp`, never in the target's extension (a textfile collector
    reading `*.prom` must not see it): writers that infer a format from the name must be told
    the format. The file gets the mode a new file would (or the replaced file's mode)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        try:
            mode = stat.S_IMODE(target.stat().st_mode)
        except OSError:
            mode = 0o666 & ~_umask()
        tmp.chmod(mode)
        with open(tmp, "rb") as f:  # on disk before it replaces anything
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_atomic(path: PathLike, content: Union[str, bytes]) -> None:
    """Write `content` to `path` through `atomic_output`."""
    with atomic_output(path) as tmp:
        if isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            tmp.write_text(content)
