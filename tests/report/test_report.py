"""``pyrodisent compare``: one self-contained page per set of runs, with every metric as mean ± sd over
seeds, PSIS-LOO where runs share evaluation points, and nothing written when a run cannot be read."""
import base64
import json
import re

import arviz as az
import numpy as np
import pandas as pd
import pytest

from pyrodisent.cli import main
from pyrodisent.report import write_report
from pyrodisent.report.records import format_mean_sd

TINY = ["--set", "num_segments=3", "--set", "points_per_segment=20", "--set", "protocol.latent_dim=2", "--set",
        "hidden=[8]", "--set", "epochs=2", "--set", "batch_size=20", "--set", "diagnosis_points=30", "--set",
        "diagnosis_draws=20", "--set", "diagnosis_samples=25", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for model in ("ivae", "vae"):
        for seed in (0, 1):
            assert main(["train", "--model", model, "--protocol", "nonstationary", "--seed", str(seed), *TINY,
                         "--out", root / f"{model}-{seed}"]) == 0
    # another β on other evaluation points: a row of its own with --group-by, outside the LOO comparison
    assert main(["train", "--model", "beta_vae", "--protocol", "nonstationary", "--set", "model.beta=3", *TINY,
                 "--set", "diagnosis_points=25", "--out", root / "beta_vae-0"]) == 0
    return root


def metrics_of(path):
    return json.loads((path / "metrics.json").read_text())


def test_the_page_holds_every_metric_as_mean_and_sd_and_opens_offline(runs, tmp_path):
    out = tmp_path / "report"
    paths = write_report(sorted(p for p in runs.iterdir() if p.name != "beta_vae-0"), out, title="tiny <runs>")
    page = paths["html"].read_text()
    assert "<title>tiny &lt;runs&gt;</title>" in page  # text is escaped
    images = re.findall(r"<img [^>]*src='([^']*)'", page)
    assert len(images) >= 4 and all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r"(src|href)=['\"](?!data:|#)", page)  # nothing outside the page
    assert base64.b64decode(images[0].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    for model in ("ivae", "vae"):
        mcc = np.array([metrics_of(runs / f"{model}-{seed}")["mcc"] for seed in (0, 1)])
        assert f"{mcc.mean():.3f} ± {mcc.std(ddof=1):.3f}" in page
    assert "matched_latents.png" in page and "Training curves" in page
    table = pd.read_csv(paths["table"])
    assert sorted(zip(table["model"], table["seed"])) == [("ivae", 0), ("ivae", 1), ("vae", 0), ("vae", 1)]
    assert table.loc[table["model"] == "ivae", "elbo"].tolist() == [metrics_of(runs / f"ivae-{s}")["elbo"]
                                                                    for s in (0, 1)]
    markdown = paths["markdown"].read_text()
    assert "| metric | ivae | vae |" in markdown and "PSIS-LOO ranking" in markdown


def test_runs_on_the_same_points_are_ranked_by_psis_loo(runs, tmp_path):
    paths = write_report([runs / "ivae-0", runs / "vae-0", runs / "ivae-1", runs / "vae-1", runs / "beta_vae-0"],
                         tmp_path / "report")
    page = paths["html"].read_text()
    assert page.count("2 models on the same points") == 2  # seeds 0 and 1; β-VAE saw other points
    assert "beta_vae shares no evaluation points with another run" in page
    # the ranking follows each run's own PSIS-LOO elpd on seed 0
    elpd = {model: az.loo(az.from_netcdf(runs / f"{model}-0" / "inference_data.nc")).elpd_loo for model in ("ivae", "vae")}
    best = max(elpd, key=elpd.get)
    seed0 = page.split("seed 0: 2 models")[1].split("</details>")[0]
    first_row = re.search(r"<tr><td>(\w+)</td><td>0</td>", seed0)
    assert first_row and first_row.group(1) == best


def test_group_by_splits_a_models_runs_by_a_setting(runs, tmp_path):
    paths = write_report([runs / "vae-0", runs / "beta_vae-0"], tmp_path / "report",
                         group_by=["derived.model_arguments.beta"])
    markdown = paths["markdown"].read_text()
    assert "| metric | vae beta=none | beta_vae beta=3.0 |" in markdown


@pytest.mark.parametrize("case, message", [
    ("empty", r"is not a finished run: it has no config.json"),
    ("duplicate", r"are both ivae on nonstationary with seed 0"),
    ("group", r"--group-by model_settings.gamma: no run's config.json has this key"),
])
def test_bad_runs_are_named_and_nothing_is_written(runs, tmp_path, case, message):
    out = tmp_path / "report"
    if case == "empty":
        (tmp_path / "empty").mkdir()
        given, group_by = [runs / "ivae-0", tmp_path / "empty"], []
    elif case == "duplicate":
        given, group_by = [runs / "ivae-0", runs / "ivae-0"], []
    else:
        given, group_by = [runs / "ivae-0"], ["model_settings.gamma"]
    with pytest.raises(ValueError, match=message):
        write_report(given, out, group_by=group_by)
    assert not out.exists()


def test_compare_command_finds_runs_below_a_folder(runs, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["compare", runs, "--out", out]) == 0
    assert "compared 5 runs" in capsys.readouterr().out and (out / "report.html").exists()
    with pytest.raises(SystemExit) as exit_:
        main(["compare", tmp_path / "nothing", "--out", tmp_path / "other"])
    error = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(error) == 1 and "is not a run directory" in error[0]
    assert not (tmp_path / "other").exists()


def test_mean_and_sd_are_shown_to_the_precision_of_the_value():
    assert format_mean_sd(np.array([0.95, 0.96])) == "0.955 ± 0.007"
    assert format_mean_sd(np.array([55.2, 55.8])) == "55.5 ± 0.4"
    assert format_mean_sd(np.array([-1.5])) == "-1.500" and format_mean_sd(np.array([])) == "–"
