"""Atomic, never-silent output writing shared by the output modules.

Every output file is first written to a temporary file in the destination folder, then moved
into place with :func:`os.replace` (atomic on the same file system), so a crash or an error never
leaves a half-written file under the final name. An existing output is replaced only when
``overwrite=True``; otherwise :class:`gis.errors.OutputError` names the file and says to pass
``--overwrite``.

A run's output folder is written by :func:`output_folder`: checked before any work (not a file,
not inside a file, writable, not someone else's folder), locked against a second run into the
same folder, staged in a hidden ``.<name>.tmp-*`` folder beside it and renamed into place only
when everything was written. Each output folder holds a ``.gis-output`` marker: ``--overwrite``
replaces only folders that carry it (or an older gis output's ``summary.json``), never a folder
or file the tool did not write. Leftovers of a killed run (a staging folder; an earlier output
moved aside as ``.<name>.old-*`` between the two final renames) are cleaned up or restored at
the next start, with a warning saying so.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gis.errors import OutputError
from gis.jsonable import to_jsonable

log = logging.getLogger(__name__)

__all__ = [
    "MARKER",
    "OutputFolder",
    "atomic_path",
    "check_writable",
    "fault_point",
    "is_output_folder",
    "output_folder",
    "write_bytes",
    "write_json",
    "write_text",
]


def check_writable(paths: Iterable[str | os.PathLike[str]], *, overwrite: bool = False) -> None:
    """Refuse, before any work, outputs that cannot or must not be written.

    Parameters
    ----------
    paths : iterable of path-like
        Output files about to be written.
    overwrite : bool, default False
        When true, existing files may be replaced.

    Raises
    ------
    OutputError
        Listing every output that exists (without ``overwrite``), that is a folder or lies
        inside a file, or whose folder cannot be written.
    """
    paths = [Path(p) for p in paths]
    problems = []
    probed: dict[Path, str | None] = {}
    for p in paths:
        blocker = _file_ancestor(p)
        if blocker is not None:
            problems.append(f"cannot write {p}: {blocker} is a file, not a folder; choose "
                            f"another output path")
            continue
        if p.is_dir():
            problems.append(f"cannot write {p}: it is a folder; give a file name")
            continue
        folder = _existing_ancestor(p.parent)
        if folder not in probed:
            probed[folder] = _probe_writable(folder)
        if probed[folder]:
            problems.append(f"cannot write {p}: {probed[folder]}")
    if problems:
        raise OutputError("; ".join(problems))
    if overwrite:
        return
    existing = [str(p) for p in paths if p.exists() or p.is_symlink()]
    if existing:
        names = ", ".join(existing)
        plural = "s exist" if len(existing) > 1 else " exists"
        msg = (
            f"output{plural}: {names}; pass --overwrite (overwrite=True) to replace "
            f"or choose another --out folder"
        )
        raise OutputError(msg)


def _file_ancestor(path: Path) -> Path | None:
    """The first ancestor of ``path`` that exists and is not a folder (None when none)."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def _existing_ancestor(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _probe_writable(folder: Path) -> str | None:
    """Why files cannot be created and removed in ``folder`` (None when they can).

    A real probe (create and delete a file), not :func:`os.access`: it also catches read-only
    mounts, immutable folders and ACLs.
    """
    try:
        fd, name = tempfile.mkstemp(prefix=".gis-probe-", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        return (f"{folder} is not writable ({exc.strerror or exc}); make it writable or choose "
                f"another folder")
    return None


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


MARKER = ".gis-output"
"""File written into every output folder: the tool replaces only folders that hold it."""


def is_output_folder(folder: Path) -> bool:
    """Whether ``folder`` was written by gis: it holds the :data:`MARKER` file, or (outputs of
    versions before the marker) a ``summary.json`` with a ``gis_version``."""
    folder = Path(folder)
    if (folder / MARKER).is_file():
        return True
    summary = folder / "summary.json"
    if summary.is_file():
        try:
            return "gis_version" in json.loads(summary.read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError):
            return False
    return False


def fault_point(name: str) -> None:
    """Test hook for the fault tests (SIGKILL while writing, between the renames, concurrent
    runs). When the environment variable ``GIS_TEST_PAUSE_AT`` equals ``name``, write this
    process id to the file named by ``GIS_TEST_PAUSE_SIGNAL`` and wait while that file exists
    (at most 10 minutes): the test kills the process there, or deletes the file to let it go on.
    Points: ``"writing"`` (outputs half written into the staging folder), ``"between-renames"``
    (the earlier output moved aside, the new one not yet in place). Does nothing otherwise."""
    if os.environ.get("GIS_TEST_PAUSE_AT") != name:
        return
    signal_file = Path(os.environ.get("GIS_TEST_PAUSE_SIGNAL", ""))
    if not signal_file.name:
        return
    signal_file.write_text(str(os.getpid()), encoding="utf-8")
    deadline = time.monotonic() + 600
    while signal_file.exists() and time.monotonic() < deadline:
        time.sleep(0.02)


class OutputFolder:
    """An output folder being written (see :func:`output_folder`).

    Attributes
    ----------
    path : Path
        The staging folder to write into.
    final : Path
        The output folder it becomes.
    info : dict
        Written into the marker file on success (e.g. the stages run and skipped).
    cleaned : list of str
        What was cleaned up or restored from interrupted runs before this one started.
    """

    def __init__(self, final: Path, staging: Path, cleaned: list[str]):
        self.final = final
        self.path = staging
        self.info: dict[str, Any] = {}
        self.cleaned = cleaned

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Turn a failed write (disk full, permission) into an :class:`OutputError`."""
        try:
            yield
        except OutputError:
            raise
        except OSError as exc:
            where = exc.filename or self.path
            msg = (f"cannot write the outputs of {self.final} ({where}: "
                   f"{exc.strerror or exc}); free some space or choose another --out; earlier "
                   f"outputs are left as they were")
            raise OutputError(msg) from exc

    def commit(self, *, overwrite: bool) -> None:
        """Move the staging folder into place: a plain rename when there is no earlier output
        (refused by the system if a non-empty folder appeared meanwhile), else the earlier
        output moved aside, the new one renamed in, the earlier one removed."""
        final, staging = self.final, self.path
        marker = {"written_by": "gis", "created": _now(), **self.info}
        (staging / MARKER).write_text(json.dumps(to_jsonable(marker), ensure_ascii=False,
                                                 indent=2), encoding="utf-8")
        previous = _read_marker(final) if final.is_dir() else None
        if previous is not None:
            _warn_if_partial(final, previous, marker)
        replace = overwrite and final.is_dir() and any(final.iterdir())
        if not replace:
            try:
                # the system refuses (ENOTEMPTY/EEXIST/ENOTDIR) when something other than an
                # empty folder appeared at the final name meanwhile: never replaced silently
                os.rename(staging, final)
            except OSError as exc:
                msg = (f"{final} appeared while this run was working and is not empty: left as "
                       f"it is, this run's outputs discarded; pass --overwrite or choose "
                       f"another --out ({exc.strerror or exc})")
                raise OutputError(msg) from exc
            return
        if not is_output_folder(final):
            msg = (f"{final} was filled by another program while this run was working: left as "
                   f"it is, this run's outputs discarded; choose another --out")
            raise OutputError(msg)
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        try:
            os.rename(final, old)
        except OSError as exc:
            msg = (f"cannot replace {final}: {exc.strerror or exc}; make its folder writable or "
                   f"choose another --out (earlier outputs left as they were)")
            raise OutputError(msg) from exc
        fault_point("between-renames")
        try:
            os.rename(staging, final)
        except OSError as exc:
            os.rename(old, final)  # put the earlier output back
            msg = f"cannot move the new outputs into {final}: {exc.strerror or exc}"
            raise OutputError(msg) from exc
        failed: list[str] = []
        shutil.rmtree(old, onerror=lambda fn, p, exc_info: failed.append(p))
        if failed:
            log.warning("the earlier outputs were replaced, but %s could not be removed "
                        "(%d entries, e.g. %s): remove it yourself", old, len(failed), failed[0])


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _warn_if_partial(final: Path, previous: dict[str, Any], new: dict[str, Any]) -> None:
    """Say so when an output with more analyses is replaced by one with fewer."""
    before = set(previous.get("stages_done", []))
    after = set(new.get("stages_done", []))
    lost = sorted(before - after)
    if lost:
        why = new.get("stages_skipped", {})
        reasons = "; ".join(f"{s}: {why[s]}" for s in lost if s in why)
        log.warning("%s: the earlier output had %s; this run replaces it without them%s",
                    final, ", ".join(lost), f" ({reasons})" if reasons else "")


def _path_problems(out_dir: Path, *, overwrite: bool) -> list[str]:
    """Why ``out_dir`` can never be an output folder (a file, inside a file, a link)."""
    blocker = _file_ancestor(out_dir)
    if blocker is not None:
        return [f"cannot create the output folder {out_dir}: {blocker} is a file, not a folder; "
                f"choose another --out"]
    if out_dir.is_symlink():
        return [f"{out_dir} is a symbolic link (to {os.readlink(out_dir)}); give the folder "
                f"itself as --out"]
    if out_dir.exists() and not out_dir.is_dir():
        note = ": --overwrite replaces only output folders of gis" if overwrite else ""
        return [f"{out_dir} is a file, not a folder; choose a folder for --out (the file is "
                f"left as it is{note})"]
    return []


def _state_problems(out_dir: Path, *, overwrite: bool) -> list[str]:
    """Why the folder ``out_dir`` cannot be replaced by a run's outputs now."""
    if not out_dir.is_dir():
        return []
    try:
        entries = sorted(p.name for p in out_dir.iterdir())
    except OSError as exc:
        return [f"cannot read the output folder {out_dir}: {exc.strerror or exc}; choose "
                f"another --out"]
    if not entries:
        return []
    if not overwrite:
        return [f"{out_dir} exists and is not empty; pass --overwrite to replace its outputs"]
    if not is_output_folder(out_dir):
        shown = ", ".join(entries[:5]) + (" …" if len(entries) > 5 else "")
        return [f"{out_dir} holds files gis did not write ({shown}; no {MARKER} marker): "
                f"--overwrite replaces only output folders written by gis; choose another --out, "
                f"or move those files away yourself"]
    for folder, _dirs, _files in os.walk(out_dir):
        why = _probe_writable(Path(folder))
        if why:
            return [f"{why}: the earlier outputs in {out_dir} could not be replaced (e.g. "
                    f"chmod -R u+w {out_dir})"]
    return []


@contextlib.contextmanager
def _lock(out_dir: Path) -> Iterator[str]:
    """Hold ``.<name>.lock`` beside ``out_dir`` for the whole run (an advisory ``flock``: the
    system releases it when the process dies, even by SIGKILL). Yields what the lock file said
    about an earlier holder that did not release it ("" when it was released properly)."""
    path = out_dir.with_name(f".{out_dir.name}.lock")
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            msg = (f"cannot write beside {out_dir} ({path}: {exc.strerror or exc}); make "
                   f"{out_dir.parent} writable or choose another --out")
            raise OutputError(msg) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode("utf-8", "replace").strip()
            os.close(fd)
            who = _describe_holder(holder)
            msg = (f"another gis run{who} is writing {out_dir} right now; wait for it to "
                   f"finish, or choose another --out")
            raise OutputError(msg) from None
        except OSError:
            os.close(fd)
            raise
        # the file may have been removed and re-created by a run that just finished
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        earlier = os.read(fd, 4096).decode("utf-8", "replace").strip()
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "started": _now()}).encode())
        yield earlier
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


def _describe_holder(text: str) -> str:
    try:
        info = json.loads(text)
        return f" (process {info['pid']}, started {info['started']})"
    except (ValueError, KeyError, TypeError):
        return ""


def _recover(out_dir: Path, earlier: str) -> list[str]:
    """Clean up after runs that were killed: remove their staging folders, restore an earlier
    output they had moved aside. Called with the lock held, so nothing found is in use."""
    said = []
    who = _describe_holder(earlier)
    pattern = glob.escape(f".{out_dir.name}")
    for tmp in sorted(out_dir.parent.glob(pattern + ".tmp-*")):
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
            said.append(f"removed {tmp}: the unfinished outputs of an interrupted run{who} "
                        f"(never used)")
    for old in sorted(out_dir.parent.glob(pattern + ".old-*")):
        if not old.is_dir() or old.is_symlink():
            continue
        if not out_dir.exists():
            os.rename(old, out_dir)
            said.append(f"restored {out_dir} from {old.name}: an interrupted run{who} had moved "
                        f"the earlier outputs aside and not replaced them")
        else:
            shutil.rmtree(old, ignore_errors=True)
            said.append(f"removed {old}: earlier outputs that an interrupted run{who} had "
                        f"already replaced")
    for line in said:
        log.warning("%s", line)
    return said


@contextlib.contextmanager
def output_folder(out_dir: str | os.PathLike[str], *, overwrite: bool) -> Iterator[OutputFolder]:
    """A run's output folder, checked and reserved before any work, written atomically.

    Before the block: the path is checked (not a file, not inside a file, not a link); a lock
    beside it keeps a second run out (it fails at once, naming the first); leftovers of killed
    runs are cleaned up or restored (with a warning); the folder is checked (empty or
    ``overwrite``, written by gis, writable throughout); an empty staging folder
    ``.<name>.tmp-*`` is created beside it. The block writes into ``folder.path``. On success
    the staging folder replaces the output folder (:meth:`OutputFolder.commit`); on any error
    it is removed and the earlier output is left untouched.

    Raises
    ------
    OutputError
        Naming the folder and what to do.
    """
    out_dir = Path(os.path.abspath(out_dir))
    problems = _path_problems(out_dir, overwrite=overwrite)
    if problems:
        raise OutputError("; ".join(problems))
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = (f"cannot create the folder {out_dir.parent} for the outputs: "
               f"{exc.strerror or exc}; choose another --out")
        raise OutputError(msg) from exc
    with _lock(out_dir) as earlier:
        cleaned = _recover(out_dir, earlier)
        problems = _state_problems(out_dir, overwrite=overwrite)
        if problems:
            raise OutputError("; ".join(problems))
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
        except OSError as exc:
            msg = (f"cannot write beside {out_dir}: {exc.strerror or exc}; make "
                   f"{out_dir.parent} writable or choose another --out")
            raise OutputError(msg) from exc
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private; outputs are for sharing
        try:
            folder = OutputFolder(out_dir, staging, cleaned)
            yield folder
            folder.commit(overwrite=overwrite)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)


def write_json(obj: Any, path: Path) -> Path:
    """Write ``obj`` as JSON: NaN/inf as null, numpy values as Python numbers
    (:func:`gis.jsonable.to_jsonable`)."""
    path.write_text(json.dumps(to_jsonable(obj), ensure_ascii=False, indent=2, allow_nan=False),
                    encoding="utf-8")
    return path
