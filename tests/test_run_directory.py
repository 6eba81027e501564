import json

import pytest

from pyrodisent.run_directory import RunDirectory, RunDirectoryError


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


def test_metrics_are_flat_and_finite(tmp_path):
    run = RunDirectory(tmp_path / "r").create({})
    with pytest.raises(ValueError, match="flat"):
        run.write_metrics({"a": {"b": 1}})
    run.write_metrics({"a": float("nan"), "b": 1})
    assert run.read_metrics() == {"a": None, "b": 1}


def test_resume_without_a_run(tmp_path):
    with pytest.raises(RunDirectoryError, match="holds no run"):
        RunDirectory(tmp_path / "nothing").create({}, resume=True)
