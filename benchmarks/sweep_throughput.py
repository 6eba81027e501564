"""Study throughput: runs per minute of one small study on 1 and 2 local worker processes and on a local
Ray instance (2 CPUs), and what each engine costs per run beyond the run itself.

    python benchmarks/sweep_throughput.py                        # 2 models × 2 β × 3 seeds, 1 epoch each
    python benchmarks/sweep_throughput.py --seeds 5 --epochs 3 --json sweep.json

Each engine runs the same study into a fresh study directory through :func:`pyrodisent.runs.sweep.run_study`
(the code path of ``pyrodisent sweep``). Wall time includes starting the workers (spawned processes
import torch and Pyro; Ray starts its instance and its workers). ``run s`` is the mean time inside a
run (:func:`~pyrodisent.runs.sweep.execute_run`: data, training, evaluation); ``overhead/run`` is the
time a worker slot spent on anything else — (wall × slots − Σ run time) / runs: starting, scheduling,
sending tasks and results. Ray's overhead per run is that figure for Ray, and its excess over local
processes with as many slots. Wall-clock figures on whatever else this machine runs.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def study(models, seeds: int, epochs: int):
    from pyrodisent.runs.study import Study

    tiny = {"num_segments": 3, "points_per_segment": 10, "protocol.latent_dim": 2, "hidden": [8],
            "diagnosis_points": 0}
    return Study.from_mapping({"name": "throughput", "models": list(models),
                               "protocols": {"nonstationary": {"settings": tiny}}, "grid": {"model.beta": [1, 2]},
                               "settings": {"trainer.epochs": epochs}, "seeds": seeds})


def measure(name: str, workers: int, ray: bool, args, root: Path):
    from pyrodisent.runs.study import StudyManifest
    from pyrodisent.runs.sweep import run_study

    directory = root / name.replace(" ", "_")
    plan = study(args.models, args.seeds, args.epochs).plan(directory)
    started = time.perf_counter()
    summary = run_study(plan, workers=workers, ray_address="local" if ray else None, progress=False)
    wall = time.perf_counter() - started
    runs = len(summary.executed)
    seconds = [entry["seconds"] for entry in StudyManifest.read(directory).runs.values()]
    inside = sum(seconds)
    return {"engine": name, "slots": workers, "runs": runs, "failed": summary.failed, "wall_s": wall,
            "runs_per_minute": 60 * runs / wall, "run_s": inside / runs,
            "overhead_per_run_s": (wall * workers - inside) / runs}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["vae", "beta_vae"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    engines = [("processes 1", 1, False), ("processes 2", 2, False)]
    try:
        import ray  # noqa: F401

        engines.append(("ray 2", 2, True))
    except ImportError:
        print("Ray is not installed (pip install 'pyrodisent[ray]'): its row is left out")
    with tempfile.TemporaryDirectory() as root:
        rows = [measure(name, workers, ray, args, Path(root)) for name, workers, ray in engines]
    header = f"{'engine':<12} {'slots':>5} {'runs':>5} {'wall s':>8} {'runs/min':>9} {'run s':>7} {'overhead/run s':>15}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['engine']:<12} {row['slots']:>5} {row['runs']:>5} {row['wall_s']:>8.1f} "
              f"{row['runs_per_minute']:>9.1f} {row['run_s']:>7.2f} {row['overhead_per_run_s']:>15.2f}")
    result = {"study": {"models": args.models, "betas": [1, 2], "seeds": args.seeds, "epochs": args.epochs},
              "engines": rows}
    by_name = {row["engine"]: row for row in rows}
    if "ray 2" in by_name:
        excess = by_name["ray 2"]["overhead_per_run_s"] - by_name["processes 2"]["overhead_per_run_s"]
        result["ray_overhead_per_run_s"] = by_name["ray 2"]["overhead_per_run_s"]
        result["ray_excess_over_processes_per_run_s"] = excess
        print(f"Ray's overhead per run: {by_name['ray 2']['overhead_per_run_s']:.2f} s ({excess:+.2f} s against 2 "
              "local processes)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
