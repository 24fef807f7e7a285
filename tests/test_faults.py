"""Faults while writing outputs: a run killed (SIGKILL) while it writes or between the two final
renames, two runs racing into one folder, a folder filled behind the tool's back.

The kills are deterministic: the run pauses at a named point (test hook
``gis.outputs.files.fault_point``, environment variable ``GIS_TEST_PAUSE_AT``), writes its
process id to a signal file, and the test kills it there (or deletes the file to let it go on).
No test sleeps for a guessed time.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gis.cli import main
from gis.errors import OutputError
from gis.outputs import files

ROOT = Path(__file__).resolve().parents[1]
WAIT_S = 600  # generous bound on waiting for a subprocess to reach its pause point


def fast_config(folder: Path) -> Path:
    """Ha Tinh from the registry with 3 km cells: a whole `gis access` in a few seconds."""
    cfg = folder / "config.toml"
    cfg.write_text(f'[province]\nname = "42"\npopulation_total = 1623061\n[layers]\n'
                   f'facilities = "{(ROOT / "layers" / "hatinh_hospitals.csv").as_posix()}"\n'
                   f'[demand]\ncell_size_m = 3000\n', encoding="utf-8")
    return cfg


def earlier_output(out: Path) -> Path:
    out.mkdir(parents=True)
    (out / files.MARKER).write_text('{"written_by": "gis"}', encoding="utf-8")
    (out / "summary.json").write_text('{"gis_version": "0.1.0", "earlier": true}',
                                      encoding="utf-8")
    (out / "access.html").write_text("<html>earlier</html>", encoding="utf-8")
    return out


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def start(cfg: Path, out: Path, *extra: str, pause: str | None = None,
          signal_file: Path | None = None) -> subprocess.Popen:
    env = dict(os.environ)
    if pause:
        env["GIS_TEST_PAUSE_AT"] = pause
        env["GIS_TEST_PAUSE_SIGNAL"] = str(signal_file)
    return subprocess.Popen([sys.executable, "-m", "gis.cli", "access", "--config", str(cfg),
                             "--out", str(out), *extra], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(signal_file: Path, proc: subprocess.Popen) -> int:
    """Wait until the run reaches its pause point (it writes its pid); fail if it ends first."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if signal_file.exists() and signal_file.read_text(encoding="utf-8").strip():
            return int(signal_file.read_text(encoding="utf-8"))
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (status {proc.returncode}) before its pause point:\n{err}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail("the run did not reach its pause point")


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def hidden(parent: Path, name: str = "hatinh") -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


def test_killed_while_writing_leaves_the_earlier_output_and_the_next_run_cleans_up(
        tmp_path, capsys):
    cfg = fast_config(tmp_path)
    out = earlier_output(tmp_path / "maps" / "hatinh")
    before = snapshot(out)
    sig = tmp_path / "paused"
    proc = start(cfg, out, "--overwrite", pause="writing", signal_file=sig)
    pid = wait_for(sig, proc)
    assert pid == proc.pid
    staging = [p for p in out.parent.iterdir() if p.name.startswith(".hatinh.tmp-")]
    assert len(staging) == 1 and any(staging[0].iterdir())   # half written
    assert (out.parent / ".hatinh.lock").exists()
    kill(proc)
    # the kill left the earlier output as it was, and the unfinished one hidden beside it
    assert snapshot(out) == before
    assert hidden(out.parent) == sorted([staging[0].name, ".hatinh.lock"])
    # the next run (the command, as a user runs it) removes the leftovers, says so on stderr,
    # and writes its output
    nxt = start(cfg, out, "--overwrite")
    _, err = nxt.communicate(timeout=WAIT_S)
    assert nxt.returncode == 0, err
    assert f"WARNING: removed {staging[0]}: the unfinished outputs of an interrupted run " \
           f"(process {pid}," in err
    assert hidden(out.parent) == []
    assert json.loads((out / files.MARKER).read_text(encoding="utf-8"))["stages_done"] == [
        "access"]
    assert "earlier" not in (out / "summary.json").read_text(encoding="utf-8")


def test_killed_between_the_renames_the_next_start_restores_the_earlier_output(
        tmp_path, capsys, caplog):
    cfg = fast_config(tmp_path)
    out = earlier_output(tmp_path / "maps" / "hatinh")
    before = snapshot(out)
    sig = tmp_path / "paused"
    proc = start(cfg, out, "--overwrite", pause="between-renames", signal_file=sig)
    pid = wait_for(sig, proc)
    kill(proc)
    # killed with the earlier output moved aside and the new one not in place
    assert not out.exists()
    assert f".hatinh.old-{pid}" in hidden(out.parent)
    # the next start puts the earlier output back (and, without --overwrite, keeps it)
    capsys.readouterr()
    assert main(["access", "--config", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    said = caplog.text
    assert f"restored {out} from .hatinh.old-{pid}: an interrupted run (process {pid}," in said
    assert "removed" in said and ".hatinh.tmp-" in said
    assert f"{out} exists and is not empty; pass --overwrite" in err
    assert snapshot(out) == before
    assert hidden(out.parent) == []


def test_leftover_of_a_run_killed_after_the_second_rename_is_removed(tmp_path, capsys, caplog):
    """Simulated: the new output is in place, the earlier one still hidden beside it."""
    cfg = fast_config(tmp_path)
    out = earlier_output(tmp_path / "maps" / "hatinh")
    before = snapshot(out)
    old = earlier_output(tmp_path / "maps" / ".hatinh.old-999999")
    assert old.exists()
    assert main(["access", "--config", str(cfg), "--out", str(out)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert ".hatinh.old-999999: earlier outputs that an interrupted run" in caplog.text
    assert snapshot(out) == before and hidden(out.parent) == []


def test_two_runs_into_one_new_folder_one_waits_for_none(tmp_path):
    """A run holding the folder (paused while writing) makes a second one fail at once; the
    first then finishes. Exactly one succeeds."""
    cfg = fast_config(tmp_path)
    out = tmp_path / "maps" / "hatinh"
    sig = tmp_path / "paused"
    first = start(cfg, out, pause="writing", signal_file=sig)
    pid = wait_for(sig, first)
    second = start(cfg, out)
    _, err2 = second.communicate(timeout=WAIT_S)
    assert second.returncode == 2, err2
    assert "Traceback" not in err2
    assert f"another gis run (process {pid}, started " in err2
    assert f"is writing {out} right now; wait for it to finish, or choose another --out" in err2
    sig.unlink()   # let the first go on
    _, err1 = first.communicate(timeout=WAIT_S)
    assert first.returncode == 0, err1
    assert (out / files.MARKER).exists() and hidden(out.parent) == []


def test_two_runs_racing_exactly_one_succeeds(tmp_path):
    """Both started together, no pause: whichever order the system gives, one writes the
    folder and the other exits 2 (refused by the lock, or by the folder the first wrote)."""
    cfg = fast_config(tmp_path)
    out = tmp_path / "maps" / "hatinh"
    procs = [start(cfg, out), start(cfg, out)]
    results = [(p.wait(timeout=WAIT_S), p.communicate()[1]) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "Traceback" not in loser
    assert ("another gis run" in loser
            or f"{out} exists and is not empty; pass --overwrite" in loser), loser
    assert (out / files.MARKER).exists() and hidden(out.parent) == []


def test_a_folder_filled_behind_the_tools_back_is_never_replaced(tmp_path):
    """The final rename refuses to replace a non-empty folder: a folder another program filled
    while the run worked stays as it is and the run fails."""
    out = tmp_path / "hatinh"
    with pytest.raises(OutputError, match="appeared while this run was working"):
        with files.output_folder(out, overwrite=False) as folder:
            (folder.path / "report.html").write_text("new", encoding="utf-8")
            out.mkdir()
            (out / "theirs.txt").write_text("someone else's", encoding="utf-8")
    assert snapshot(out) == {"theirs.txt": hashlib.sha256(b"someone else's").hexdigest()}
    assert hidden(tmp_path) == []


def test_replacing_a_fuller_output_with_a_partial_one_says_so(tmp_path, caplog):
    out = earlier_output(tmp_path / "hatinh")
    (out / files.MARKER).write_text(json.dumps({"written_by": "gis", "stages_done": [
        "access", "plans", "network"]}), encoding="utf-8")
    with files.output_folder(out, overwrite=True) as folder:
        (folder.path / "summary.json").write_text("{}", encoding="utf-8")
        folder.info = {"stages_done": [], "stages_skipped": {
            "access": "population unknown"}}
    assert "the earlier output had access, network, plans; this run replaces it without them" \
           in caplog.text
    assert "access: population unknown" in caplog.text
