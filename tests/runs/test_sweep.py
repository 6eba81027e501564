"""Studies: a study file expands into checked runs, runs on local processes and on a local Ray instance,
survives a SIGKILL of its driver (the rerun finishes only the missing runs), grows when the file
changes, records a failing run without stopping, and ends in one table and the comparison report."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pyrodisent.cli import main
from pyrodisent.protocols.settings import SettingError
from pyrodisent.runs.study import ERROR_FILE, MANIFEST, Study
from pyrodisent.runs.sweep import run_study

ROOT = Path(__file__).resolve().parents[2]
TINY = {"num_segments": 3, "points_per_segment": 10, "protocol.latent_dim": 2, "hidden": [8],
        "diagnosis_points": 0}
#: 3 models × 2 values of β × 3 seeds on a tiny nonstationary protocol: 18 runs of one epoch
STUDY = {"name": "beta", "models": ["vae", "beta_vae", "beta_tcvae"],
         "protocols": {"nonstationary": {"settings": TINY}}, "grid": {"model.beta": [1, 2]},
         "settings": {"trainer.epochs": 1}, "seeds": 3}


def write_study(path, study=STUDY):
    path.write_text(yaml.safe_dump(study))
    return path


def finished_runs(directory):
    return sorted(str(p.parent.relative_to(directory)) for p in Path(directory).rglob("metrics.json"))


def test_a_study_expands_into_named_checked_runs(tmp_path):
    plan = Study.from_mapping(STUDY).plan(tmp_path / "study")
    assert len(plan.runs) == 18 and all(run.state == "new" for run in plan.runs)
    assert plan.runs[0].name == "vae/nonstationary/beta=1/seed=0"
    assert plan.runs[-1].name == "beta_tcvae/nonstationary/beta=2/seed=2"
    assert plan.runs[-1].identity["model_settings"] == {"beta": 2.0}
    assert plan.manifest.group_by() == ["model_settings.beta"]
    assert not (tmp_path / "study").exists()  # planning writes nothing
    bad = {**STUDY, "grid": {"model.beta": [1, "two"]}}
    with pytest.raises(SettingError, match=r"9 of 18 runs are invalid: run vae/nonstationary/beta=two/seed=0: "
                                           r"model\.beta: expected a number, got 'two'"):
        Study.from_mapping(bad).plan(tmp_path / "study")
    with pytest.raises(SettingError, match=r"unknown key; valid keys: model\."):
        Study.from_mapping({**STUDY, "grid": {"betta": [1, 2]}}).plan(tmp_path / "study")
    with pytest.raises(SettingError, match=r"unknown key 'grids'; valid keys: name, model_file, models"):
        Study.from_mapping({**STUDY, "grids": {}})


def test_killing_the_driver_and_rerunning_finishes_only_the_missing_runs_then_the_table_and_report(tmp_path):
    study, out = write_study(tmp_path / "study.yaml"), tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    driver = subprocess.Popen([sys.executable, "-m", "pyrodisent", "sweep", str(study), "--out", str(out), "--workers",
                               "1", "--quiet"], cwd=ROOT, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(finished_runs(out)) < 3 and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.05)
    os.kill(driver.pid, signal.SIGKILL)  # the driver only; its worker ends with it (PR_SET_PDEATHSIG)
    driver.wait()
    time.sleep(0.5)
    before = finished_runs(out)
    assert 3 <= len(before) < 18, before
    assert (out / MANIFEST).is_file()

    plan = Study.from_file(study).plan(out)
    assert sorted(run.name for run in plan.finished) == before
    summary = run_study(plan, workers=2, progress=False)
    assert summary.skipped == len(before) and not summary.failures
    assert len(summary.executed) == 18 - len(before)  # only the missing runs
    assert not set(summary.executed) & set(before)
    assert len(finished_runs(out)) == 18

    table = pd.read_csv(out / "study.csv")
    assert len(table) == 18 and set(table["status"]) == {"finished"}
    assert {"run", "model", "protocol", "seed", "model.beta", "mcc", "elbo", "seconds"} <= set(table.columns)
    assert table.groupby(["model", "model.beta"]).size().tolist() == [3] * 6
    pytest.importorskip("pyarrow", reason="study.parquet needs pyarrow (the parquet extra)")
    assert pd.read_parquet(out / "study.parquet").shape == table.shape

    assert main(["compare", out]) == 0
    report = (out / "report" / "report.md").read_text()
    assert "beta_vae beta=2.0" in report and "beta_tcvae beta=1.0" in report and " ± " in report
    assert (out / "report" / "report.html").is_file()

    again = run_study(Study.from_file(study).plan(out), workers=1, progress=False)  # nothing left to do
    assert again.skipped == 18 and again.executed == []


def test_a_study_on_a_local_ray_instance(tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'pyrodisent[ray]')")
    out = tmp_path / "out"
    plan = Study.from_mapping(STUDY).plan(out)
    summary = run_study(plan, workers=2, ray_address="local", progress=False)
    assert len(summary.executed) == 18 and not summary.failures
    table = pd.read_csv(out / "study.csv")
    assert len(table) == 18 and set(table["status"]) == {"finished"}
    assert main(["compare", out, "--out", tmp_path / "report"]) == 0
    assert "beta_vae beta=1.0" in (tmp_path / "report" / "report.md").read_text()


BROKEN_MODEL = '''
from pyrodisent.registry import MODELS
from pyrodisent.zoo.vae import VAE


@MODELS.register("broken_vae")
class BrokenVAE(VAE):
    """A VAE whose prior fails once training starts."""

    def prior(self, batch, **globals_):
        if self.training:
            raise RuntimeError("the prior is broken on purpose")
        return super().prior(batch, **globals_)
'''


def test_a_failing_run_is_recorded_and_a_changed_study_adds_runs(tmp_path):
    (tmp_path / "broken.py").write_text(BROKEN_MODEL)
    small = {"models": ["vae", "broken_vae"], "model_file": "broken.py",
             "protocols": {"nonstationary": {"settings": TINY}}, "settings": {"epochs": 1}, "seeds": [0]}
    study, out = write_study(tmp_path / "study.yaml", small), tmp_path / "out"
    summary = run_study(Study.from_file(study).plan(out), workers=2, progress=False)
    assert summary.executed and set(summary.failures) == {"broken_vae/nonstationary/seed=0"}
    assert "RuntimeError: the prior is broken on purpose" in summary.failures["broken_vae/nonstationary/seed=0"]
    assert "the prior is broken on purpose" in (out / "broken_vae/nonstationary/seed=0" / ERROR_FILE).read_text()
    assert finished_runs(out) == ["vae/nonstationary/seed=0"]
    table = pd.read_csv(out / "study.csv").set_index("run")
    assert table.loc["broken_vae/nonstationary/seed=0", "status"] == "failed"
    assert "broken on purpose" in table.loc["broken_vae/nonstationary/seed=0", "error"]
    assert "failed broken_vae/nonstationary/seed=0" in summary.describe()

    write_study(study, {**small, "models": ["vae"], "seeds": [0, 1]})  # a seed more, the broken model gone
    grown = run_study(Study.from_file(study).plan(out), workers=1, progress=False)
    assert grown.skipped == 1 and grown.executed == ["vae/nonstationary/seed=1"]
    manifest = json.loads((out / MANIFEST).read_text())
    assert set(manifest["runs"]) == {"vae/nonstationary/seed=0", "vae/nonstationary/seed=1",
                                     "broken_vae/nonstationary/seed=0"}  # the old runs are kept
    assert len(pd.read_csv(out / "study.csv")) == 3

    changed = {**small, "models": ["vae"], "seeds": [0, 1], "settings": {"epochs": 2}}
    write_study(study, changed)  # a fixed setting changed under the same run names: refused, nothing written
    with pytest.raises(SettingError, match=r"hold runs with other settings than the study now gives them"):
        Study.from_file(study).plan(out)
