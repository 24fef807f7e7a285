"""Atomic, never-silent output writing shared by the output modules.

Every output is first written to a temporary file in the destination folder, then moved into
place with :func:`os.replace` (atomic on the same file system), so a crash or an error never
leaves a half-written file under the final name. An existing output is replaced only when
``overwrite=True``; otherwise :class:`gis.errors.OutputError` names the file and says to pass
``--overwrite``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from gis.errors import OutputError
from gis.jsonable import to_jsonable

log = logging.getLogger(__name__)

__all__ = [
    "atomic_path",
    "check_writable",
    "staging_dir",
    "write_bytes",
    "write_json",
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


@contextlib.contextmanager
def staging_dir(out_dir: Path, *, overwrite: bool) -> Iterator[Path]:
    """A temporary folder beside ``out_dir`` that replaces it on success, vanishes on failure."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite and any(out_dir.iterdir()):
        msg = f"{out_dir} exists and is not empty; pass --overwrite to replace its outputs"
        raise OutputError(msg)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; outputs are for sharing
    try:
        yield tmp
        old = None
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json(obj: Any, path: Path) -> Path:
    """Write ``obj`` as JSON: NaN/inf as null, numpy values as Python numbers
    (:func:`gis.jsonable.to_jsonable`)."""
    path.write_text(json.dumps(to_jsonable(obj), ensure_ascii=False, indent=2, allow_nan=False),
                    encoding="utf-8")
    return path
