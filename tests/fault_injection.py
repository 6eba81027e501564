"""A fork server for the kill -9 tests: imports an example once, then runs each job in a forked child that
kills itself with SIGKILL at a chosen point of the run (a step, a file's rename, a log append, …).

Started as ``python tests/fault_injection.py examples/<name>.py``; reads one JSON job a line on stdin,
``{"argv": [...], "kill": [point, k] or null, "log": path}``, and answers one JSON line,
``{"killed": bool, "code": exit status or null}``. The server itself never trains (a fork after
torch has run threads could hang), so each child starts as a fresh process would, without the
seconds of imports: after the first job the server imports the modules that job's child imported
lazily (torch's optimizers pull in torch._dynamo, the pictures matplotlib's backend). Not a test module: tests/test_kill_and_resume.py drives it.
"""
import atexit
import importlib.util
import json
import os
import signal
import sys
from pathlib import Path

from pyrodisent.training.run_directory import CsvLog, RunDirectoryLock
from pyrodisent.training.trainer import Trainer


def _kill_on_hit(at: int):
    count = [0]

    def hit():
        count[0] += 1
        if count[0] == at:
            os.kill(os.getpid(), signal.SIGKILL)

    return hit


def install(point: str, at: int, example) -> None:
    """Make the k-th (``at``) passage through ``point`` kill this process."""
    hit = _kill_on_hit(at)
    if point == "step":  # before the k-th optimizer step
        train_step = Trainer.train_step
        Trainer.train_step = lambda self, *a, **k: (hit(), train_step(self, *a, **k))[1]
    elif point == "verify":  # before the k-th end-of-epoch check, i.e. after the epoch's last step
        verify = Trainer.verify_state
        Trainer.verify_state = lambda self: (hit(), verify(self))[1]
    elif point.startswith("rename:"):  # the temporary file written, just before it replaces <name>
        name, replace = point.split(":", 1)[1], os.replace

        def renaming(source, destination, *args, **kwargs):
            if Path(destination).name == name:
                hit()
            return replace(source, destination, *args, **kwargs)

        os.replace = renaming
    elif point in ("before-log-row", "after-log-row"):  # around the k-th CSV row (after its checkpoint)
        append = CsvLog.append

        def appending(self, row):
            if point == "before-log-row":
                hit()
            append(self, row)
            if point == "after-log-row":
                hit()

        CsvLog.append = appending
    elif point == "locked":  # right after the run directory is locked
        acquire = RunDirectoryLock.acquire
        RunDirectoryLock.acquire = lambda self: (acquire(self), hit())[0]
    elif point == "evaluation":  # when the protocol's evaluation starts encoding
        import pyrodisent.protocols.nonstationary as protocol

        encode = protocol.encode
        protocol.encode = lambda *a, **k: (hit(), encode(*a, **k))[1]
    elif point == "pictures":  # metrics.json written, the training curve not yet drawn
        import pyrodisent.figures.plots as plots

        plot = plots.plot_training_log
        plots.plot_training_log = lambda *a, **k: (hit(), plot(*a, **k))[1]
    else:
        raise ValueError(f"unknown kill point {point!r}")


def run_child(example, job) -> int:
    with open(job["log"], "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    if job.get("kill"):
        install(*job["kill"], example)
    code = 0
    try:
        example.main(job["argv"])
    except SystemExit as error:
        code = error.code if isinstance(error.code, int) else 1
    except BaseException:
        code = 1
    atexit._run_exitfuncs()  # as at a normal exit: the run directory's lock is released
    if job.get("modules"):
        Path(job["modules"]).write_text("\n".join(sorted(set(sys.modules) - job["imported"])))
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def main() -> None:
    path = Path(sys.argv[1])
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    print(json.dumps({"ready": True}), flush=True)
    warm = False
    for line in sys.stdin:
        job = json.loads(line)
        if not warm:
            job["modules"], job["imported"] = f"{job['log']}.modules", set(sys.modules)
        pid = os.fork()
        if pid == 0:
            os._exit(run_child(example, job))
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        if not warm:
            warm = True
            for name in Path(job["modules"]).read_text().split():
                try:
                    importlib.import_module(name)
                except Exception:  # a module that only imports in a certain state: the child imports it
                    pass
        print(json.dumps({"killed": killed, "code": code}), flush=True)


if __name__ == "__main__":
    main()
