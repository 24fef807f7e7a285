"""Atomic, never-silent output writing shared by the output modules.

Every output is first written to a temporary file in the destination folder, then moved into
place with :func:`os.replace` (atomic on the same file system), so a crash or an error never
leaves a half-written file under the final name. An existing output is replaced only when
``overwrite=True``; otherwise :class:`gis.errors.OutputError` names the file and says to pass
``--overwrite``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from gis.errors import OutputError

log = logging.getLogger(__name__)

__all__ = [
    "atomic_path",
    "check_writable",
    "to_jsonable",
    "write_bytes",
    "write_text",
]


def check_writable(paths: Iterable[str | os.PathLike[str]], *, overwrite: bool = False) -> None:
    """Refuse, before any work, outputs that exist when ``overwrite`` is false.

    Parameters
    ----------
    paths : iterable of path-like
        Outputs about to be written.
    overwrite : bool, default False
        When true, existing files may be replaced and nothing is checked.

    Raises
    ------
    OutputError
        Listing every existing output, with the hint to pass ``--overwrite``.
    """
    if overwrite:
        return
    existing = [str(Path(p)) for p in paths if Path(p).exists()]
    if existing:
        names = ", ".join(existing)
        plural = "s exist" if len(existing) > 1 else " exists"
        msg = (
            f"output{plural}: {names}; pass --overwrite (overwrite=True) to replace "
            f"or choose another --out folder"
        )
        raise OutputError(msg)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place when the block succeeds.

    Use for writers that need a file name (GDAL, zipfile). The temporary name keeps the
    suffix of ``path`` so format detection by extension still works. On an exception the
    temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : path-like
        Final output file. Its folder is created when missing.
    overwrite : bool, default False
        Replace ``path`` if it exists; otherwise refuse.

    Yields
    ------
    pathlib.Path
        The temporary file to write (it does not exist yet).

    Raises
    ------
    OutputError
        ``path`` exists and ``overwrite`` is false, or the folder is not writable.
    """
    final = Path(path)
    check_writable([final], overwrite=overwrite)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{final.stem}.", suffix=f".tmp{final.suffix}", dir=final.parent
        )
    except OSError as exc:
        msg = f"cannot write {final}: {exc.strerror or exc}; choose a writable --out folder"
        raise OutputError(msg) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers such as GDAL refuse to open an existing empty file as a new dataset
    try:
        yield tmp
        if not tmp.exists():
            msg = f"writing {final} produced no file"
            raise OutputError(msg)
        _move_into_place(tmp, final, overwrite=overwrite)
    finally:
        for leftover in (tmp, *(tmp.with_name(tmp.name + s) for s in ("-wal", "-shm", "-journal"))):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _move_into_place(tmp: Path, final: Path, *, overwrite: bool) -> None:
    """Rename ``tmp`` to ``final`` atomically; without overwrite, never clobber a new file."""
    try:
        if overwrite:
            os.replace(tmp, final)
        else:
            try:
                # link() fails if final appeared meanwhile: no-clobber and atomic
                os.link(tmp, final)
            except FileExistsError:
                check_writable([final], overwrite=False)
                raise
            except OSError:
                # file systems without hard links: checked above, then replaced
                check_writable([final], overwrite=False)
                os.replace(tmp, final)
    except OutputError:
        raise
    except OSError as exc:
        msg = f"cannot write {final}: {exc.strerror or exc}"
        raise OutputError(msg) from exc
    log.info("wrote %s", final)


def write_bytes(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically.

    Parameters
    ----------
    path : path-like
        Output file; its folder is created when missing.
    data : bytes
        Content.
    overwrite : bool, default False
        Replace an existing file; otherwise raise :class:`~gis.errors.OutputError`.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    final = Path(path)
    with atomic_path(final, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return final


def write_text(
    path: str | os.PathLike[str], text: str, *, overwrite: bool = False, encoding: str = "utf-8"
) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8 by default).

    Parameters
    ----------
    path : path-like
        Output file; its folder is created when missing.
    text : str
        Content.
    overwrite : bool, default False
        Replace an existing file; otherwise raise :class:`~gis.errors.OutputError`.
    encoding : str, default "utf-8"
        Text encoding.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    return write_bytes(path, text.encode(encoding), overwrite=overwrite)


def to_jsonable(value: Any) -> Any:
    """A copy fit for strict JSON: NaN/inf and missing values (pandas NA, NaT) as null, numpy
    scalars and arrays as Python numbers and lists, tuples and sets as lists, paths as text,
    anything else as its text."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v) for v in value]
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        return to_jsonable(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)
