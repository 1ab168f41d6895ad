"""Output files written as a set: all of them, complete, or none of them.

A report is several files (``metrics.json``, ``report.md``, plots) that must agree.  They are
first written in full into a hidden staging directory inside the target directory (so on the same
file system), each flushed to disk; only then are they moved into place with ``os.replace``
(atomic per file), after checking that no target is a directory.  A failure while writing (a full
disk, a size limit, an exception) removes the staging directory and leaves the previous files, or
none, never a truncated file or a new ``metrics.json`` beside an old ``report.md``.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Optional

__all__ = ["StagedFiles"]


class StagedFiles:
    """Files staged for one directory; ``with StagedFiles(out) as stage:`` commits them at the end
    of the block, or discards them when it raises.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> with StagedFiles(out) as stage:
    ...     _ = stage.write_text("metrics.json", "{}\\n")
    ...     _ = stage.write_text("report.md", "# report\\n")
    >>> sorted(p.name for p in out.iterdir())
    ['metrics.json', 'report.md']
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.directory))

    def path(self, name: str) -> Path:
        """Where to write the file ``name`` (a plain file name) before it is committed."""
        if os.path.basename(name) != name or name in ("", ".", ".."):
            raise ValueError(f"a staged file needs a plain file name, got {name!r}")
        return self.stage / name

    def write_text(self, name: str, text: str) -> Path:
        """Write ``text`` (UTF-8) as ``name`` in full; returns its final path."""
        with open(self.path(name), "w", encoding="utf-8") as f:
            f.write(text)
        return self.directory / name

    def commit(self) -> list[Path]:
        """Move every staged file into the directory (flushed first); returns their final paths."""
        try:
            staged = sorted(p for p in self.stage.iterdir() if p.is_file())
            for p in staged:  # everything on disk before anything is replaced
                fd = os.open(p, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            finals = [self.directory / p.name for p in staged]
            for target in finals:
                if target.is_dir():
                    raise IsADirectoryError(errno.EISDIR, "cannot replace a directory with a file", str(target))
            for p, target in zip(staged, finals):
                os.replace(p, target)
            return finals
        finally:
            self.discard()

    def discard(self) -> None:
        """Remove the staging directory and whatever is still in it."""
        shutil.rmtree(self.stage, ignore_errors=True)

    def __enter__(self) -> "StagedFiles":
        return self

    def __exit__(
        self, kind: Optional[type], error: Optional[BaseException], traceback: Optional[TracebackType]
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()
