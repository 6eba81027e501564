import errno
import json
import os
import stat

import pytest

from pyrodisent.training.run_directory import CsvLog, RunDirectory, RunDirectoryError, atomic_write_bytes


def test_existing_run_is_protected(tmp_path):
    run = RunDirectory(tmp_path / "r").create({"seed": 0})
    run.write_metrics({"mcc": 0.5})
    with pytest.raises(RunDirectoryError, match="already holds a run"):
        RunDirectory(tmp_path / "r").create({"seed": 0})
    assert json.loads(run.metrics_path.read_text()) == {"mcc": 0.5}
    with pytest.raises(RunDirectoryError, match=r"its config differs in \['seed'\]"):
        RunDirectory(tmp_path / "r").create({"seed": 1}, resume=True)
    RunDirectory(tmp_path / "r").create({"seed": 2}, overwrite=True)
    assert not run.metrics_path.exists() and json.loads(run.config_path.read_text()) == {"seed": 2}


def test_overwrite_replaces_the_whole_run(tmp_path):
    run = RunDirectory(tmp_path / "r").create({"seed": 0})
    run.file("traversals.png").write_bytes(b"old picture")
    (run.path / "baselines" / "vae").mkdir(parents=True)
    (run.path / "baselines" / "vae" / "metrics.json").write_text("{}")
    RunDirectory(tmp_path / "r").create({"seed": 1}, overwrite=True)
    assert sorted(p.name for p in run.path.iterdir()) == [".lock", "config.json"]
    run.release()
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json"]


@pytest.mark.parametrize("leftover", ["checkpoint.pt", "metrics.json", "training_log.csv"])
@pytest.mark.parametrize("mode", [{}, {"overwrite": True}, {"resume": True}])
def test_outputs_without_a_config_are_not_clobbered(tmp_path, leftover, mode):
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / leftover).write_bytes(b"someone's results")
    with pytest.raises(RunDirectoryError, match=rf"holds {leftover} but no config.json"):
        RunDirectory(folder).create({"seed": 0}, **mode)
    assert sorted(p.name for p in folder.iterdir()) == [leftover]
    assert (folder / leftover).read_bytes() == b"someone's results"


def test_corrupt_config_is_named(tmp_path):
    run = RunDirectory(tmp_path / "r").create({"seed": 0})
    run.release()
    run.config_path.write_text('{"seed": 0, "lr"')
    for mode in ({}, {"resume": True}):
        with pytest.raises(RunDirectoryError, match=rf"{run.config_path} is not valid JSON"):
            RunDirectory(run.path).create({"seed": 0}, **mode)
    RunDirectory(run.path).create({"seed": 0}, overwrite=True)
    assert json.loads(run.config_path.read_text()) == {"seed": 0}


def test_resume_may_change_the_optimisation_settings_and_records_them(tmp_path):
    RunDirectory(tmp_path / "r").create({"seed": 0, "lr": 0.01, "grad_clip": None})
    run = RunDirectory(tmp_path / "r").create({"seed": 0, "lr": 0.001, "grad_clip": 5.0}, resume=True,
                                              may_change=("lr", "grad_clip"))
    config = json.loads(run.config_path.read_text())
    assert config["lr"] == 0.001 and config["grad_clip"] == 5.0
    assert config["resume_changes"] == [{"grad_clip": {"from": None, "to": 5.0}, "lr": {"from": 0.01, "to": 0.001}}]
    RunDirectory(tmp_path / "r").create({"seed": 0, "lr": 0.001, "grad_clip": 5.0}, resume=True,
                                        may_change=("lr", "grad_clip"))  # unchanged: nothing added
    run = RunDirectory(tmp_path / "r").create({"seed": 0, "lr": 0.002, "grad_clip": 5.0}, resume=True,
                                              may_change=("lr", "grad_clip"))
    changes = json.loads(run.config_path.read_text())["resume_changes"]
    assert changes[1:] == [{"lr": {"from": 0.001, "to": 0.002}}]
    with pytest.raises(RunDirectoryError, match=r"differs in \['seed'\].*only \['grad_clip', 'lr'\] may change"):
        RunDirectory(tmp_path / "r").create({"seed": 1, "lr": 0.002, "grad_clip": 5.0}, resume=True,
                                            may_change=("lr", "grad_clip"))


def test_resume_without_a_run(tmp_path):
    with pytest.raises(RunDirectoryError, match="holds no run"):
        RunDirectory(tmp_path / "nothing").create({}, resume=True)
    assert not (tmp_path / "nothing").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunDirectoryError, match="holds no run"):
        RunDirectory(tmp_path / "empty").create({}, resume=True)
    assert list((tmp_path / "empty").iterdir()) == []


def test_metrics_are_flat_and_finite(tmp_path):
    run = RunDirectory(tmp_path / "r").create({})
    with pytest.raises(ValueError, match="flat"):
        run.write_metrics({"a": {"b": 1}})
    run.write_metrics({"a": float("nan"), "b": 1})
    assert run.read_metrics() == {"a": None, "b": 1}


def test_files_get_the_users_umask(tmp_path):
    old = os.umask(0o022)
    try:
        run = RunDirectory(tmp_path / "r").create({"seed": 0})
        run.write_metrics({"a": 1})
        CsvLog(run.log_path, rows=[{"epoch": 1, "loss": 2.0}])
    finally:
        os.umask(old)
    for path in (run.config_path, run.metrics_path, run.log_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_temporary_files_of_a_killed_write_are_removed_on_the_next_start(tmp_path):
    run = RunDirectory(tmp_path / "r").create({"seed": 0})
    run.release()
    stray = run.path / ".checkpoint.pt.k2j4x9.tmp"
    stray.write_bytes(b"\0" * 1000)  # what a kill during the checkpoint's write leaves
    RunDirectory(run.path).create({"seed": 0}, resume=True)
    assert not stray.exists()


def test_a_failed_write_names_the_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    def full_disk(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match=rf"cannot write {tmp_path / 'metrics.json'}: No space left on device") as caught:
        atomic_write_bytes(tmp_path / "metrics.json", b"{}")
    assert caught.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_out_below_a_regular_file_and_read_only_folders(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(RunDirectoryError, match=r"notes.txt is a file, not a folder"):
        RunDirectory(tmp_path / "notes.txt" / "run").create({})
    with pytest.raises(RunDirectoryError, match="exists and is not a directory"):
        RunDirectory(tmp_path / "notes.txt").create({})
    if os.geteuid() == 0:
        return  # root writes into read-only folders
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    with pytest.raises(RunDirectoryError, match="cannot write the run directory .*Permission denied"):
        RunDirectory(locked / "run").create({})


def test_one_writer_per_run_directory_and_stale_locks_are_taken_over(tmp_path, hold_run_directory):
    path = tmp_path / "r"
    holder = hold_run_directory(path, {"seed": 0})
    with pytest.raises(RunDirectoryError, match=rf"in use by another run \(process {holder.pid} holds"):
        RunDirectory(path).create({"seed": 0}, resume=True)
    with pytest.raises(RunDirectoryError, match="in use by another run"):
        RunDirectory(path).create({"seed": 0}, overwrite=True)
    assert json.loads((path / "config.json").read_text()) == {"seed": 0}
    holder.kill()  # kill -9: the lock file stays, but its flock is gone
    holder.wait(10)
    assert (path / ".lock").read_text().strip() == str(holder.pid)
    run = RunDirectory(path).create({"seed": 0}, resume=True)
    assert (path / ".lock").read_text().strip() == str(os.getpid())
    run.release()
    assert not (path / ".lock").exists()


def test_csv_log_is_rewritten_from_the_rows_given(tmp_path):
    path = tmp_path / "log.csv"
    log = CsvLog(path, rows=[])
    log.append({"epoch": 1, "loss": 3.0})
    log.append({"epoch": 2, "loss": 2.0})
    appended = path.read_bytes()
    CsvLog(path, rows=[{"epoch": 1, "loss": 3.0}])  # resuming from the epoch-1 checkpoint
    assert path.read_text().splitlines() == ["epoch,loss", "1,3.0"]
    CsvLog(path, rows=[{"epoch": 1, "loss": 3.0}, {"epoch": 2, "loss": 2.0}])  # its row had not been appended
    assert path.read_bytes() == appended
    CsvLog(path).append({"epoch": 3, "loss": 1.0})
    assert path.read_text().splitlines()[-1] == "3,1.0"
