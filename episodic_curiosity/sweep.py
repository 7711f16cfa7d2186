r"""Sweeps of launcher runs (methods x scenarios x run numbers) on Ray, restartable and retried.

Every run is one Ray task that starts one launcher (`python -m episodic_curiosity.launcher`) as a
subprocess (so TensorFlow state and crashes stay isolated), in the launcher's layout
`<workdir>/<method>/<scenario>/run_number_<n>/`, with its output in `<run_dir>/launcher.log`.

* **Workdir.** A local folder, or on a cluster a folder that every node sees at the same path:
  a shared filesystem such as NFS, or a bucket mounted on every node (gcsfuse, s3fs, ...). URIs
  (`gs://...`, `s3://...`) are refused: mount the bucket and pass the mount's path.
* **Shared R-networks.** Without `r_networks_path`, `ppo_plus_ec` needs a trained R-network.
  The original trained one per DMLab level and reused it across scenarios of that level
  (`launcher.RELEASED_R_NETWORK_FOLDERS`: sparse, verysparse, noreward and norewardnofire all
  use `explore_goal_locations_large`). A sweep therefore first runs one R-network job per
  (owning scenario, run number), where the owner of a scenario is the first scenario of
  `RELEASED_R_NETWORK_FOLDERS` with the same level folder (verysparse, noreward,
  norewardnofire -> sparse; every other scenario owns its own). The job trains into
  `<workdir>/r_networks/<owner>/run_number_<n>/` and the `ppo_plus_ec` runs of run number `n`
  of all scenarios it serves get `--r_networks_path=<that folder>/r_networks`; Ray starts them
  once that job has finished (its result is an argument of their tasks).
* **Retries are Ray's.** A launcher that exits non-zero (killed, crashed) makes its task raise
  `LauncherFailed`; Ray runs the task again (`max_retries = max_attempts - 1`,
  `retry_exceptions=True`), and so it does when the task's worker or node dies. The retried
  launcher works in the same run dir and resumes from its checkpoints. The launcher subprocess
  dies with its Ray worker (Linux parent-death signal), so a retry never races an orphan.
  Each attempt appends a line to `<run_dir>/sweep_events.jsonl` (and a header to the log), which
  the progress table reads; nothing reads it to decide anything.
* **Restarts.** A run whose launcher exited 0 gets `<run_dir>/DONE.json` (written atomically,
  with a summary); a sweep started again skips such runs, and starts no Ray at all when every
  run is done.
* **Progress.** Every `report_every_s` the driver logs a table of runs (pending / running /
  done / failed, attempt, agent steps = last `step` of `reward_train.csv`); at the end it logs
  the final table and writes plots and the summary table with `plot_training.report` into
  `<workdir>/summary/`.

    from episodic_curiosity import sweep
    spec = sweep.make_spec(["ppo", "ppo_plus_ec"], ["sparse", "verysparse"], runs=10)
    sweep.run_sweep(spec, "/mnt/shared/ec_sweep", address="auto", cpus_per_run=16)

Needs `ray` (extra `ray`).
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Mapping, Sequence

from absl import logging

from episodic_curiosity import atomic_files
from episodic_curiosity import metrics_csv

DONE_FILE = "DONE.json"
EVENTS_FILE = "sweep_events.jsonl"  # one JSON line per attempt start and end (for the progress table)
LOG_FILE = "launcher.log"
R_NETWORK_FOLDER = "r_networks"  # <workdir>/r_networks/<owner scenario>/run_number_<n>/
SUMMARY_FOLDER = "summary"
SPEC_KEYS = (
    "methods",
    "scenarios",
    "runs",
    "scale",
    "gin_bindings",
    "num_timesteps",
    "num_env",
    "r_networks_path",
    "seed",
)
# Launchers run in the folder holding the package (a checkout's root), so `python -m` finds it
# even when it is not installed.
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Lines `name: value` that the launcher prints when it finishes.
_OUTPUT_LINE = re.compile(r"^(run_dir|r_checkpoint|policy_checkpoint|reward_train|reward_csvs): (.*)$")


class SweepSpecError(ValueError):
    """A sweep specification (flags or sweep file) that cannot be run."""


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """What to run.

    Attributes:
      methods: tuple of str, launcher methods (`launcher.METHODS`).
      scenarios: tuple of str, registered scenario names.
      runs: tuple of int, run numbers (>= 1).
      scale: str, 'paper' or 'smoke' (`launcher.SCALES`).
      gin_bindings: tuple of str, extra bindings for every run.
      num_timesteps: int or None, agent steps per run (None: the scale's).
      num_env: int or None, parallel envs per run (None: the scale's).
      r_networks_path: str or None, pre-trained R-networks for `ppo_plus_ec` (a file, or a folder
        laid out like the original's release); None trains them in R-network jobs.
      seed: int or None, the seed of run number 1; run n gets seed + n - 1 (None: 0, i.e. the
        launcher's default, run number - 1). R-network jobs of run n get the same seed.
    """

    methods: tuple[str, ...]
    scenarios: tuple[str, ...]
    runs: tuple[int, ...]
    scale: str = "paper"
    gin_bindings: tuple[str, ...] = ()
    num_timesteps: int | None = None
    num_env: int | None = None
    r_networks_path: str | None = None
    seed: int | None = None

    def seed_of(self, run_number: int) -> int:
        """The seed of run number `run_number` (see `seed`)."""
        return (self.seed or 0) + run_number - 1


@dataclasses.dataclass(frozen=True)
class Job:
    """One subprocess of a sweep: a launcher run, or an R-network job.

    Attributes:
      kind: str, 'run' or 'r_network'.
      method: str, the run's method ('ppo_plus_ec' for R-network jobs).
      scenario: str, the run's scenario (the owning scenario for R-network jobs).
      run_number: int, run number.
      relative_dir: str, the job's folder under the workdir.
      r_network_job: str or None, `relative_dir` of the R-network job this run waits for.
    """

    kind: str
    method: str
    scenario: str
    run_number: int
    relative_dir: str
    r_network_job: str | None = None

    @property
    def key(self) -> str:
        return self.relative_dir


def _as_list(value: Any, name: str) -> list:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise SweepSpecError(f"{name} must be a list or a comma-separated string, got {value!r}")


def _run_numbers(runs: Any) -> tuple[int, ...]:
    """`runs` as run numbers: an int N means 1..N; a list gives them explicitly."""
    if isinstance(runs, bool):
        raise SweepSpecError(f"runs must be an integer >= 1 or a list of run numbers, got {runs!r}")
    if isinstance(runs, int):
        if runs < 1:
            raise SweepSpecError(f"runs must be >= 1, got {runs}")
        return tuple(range(1, runs + 1))
    numbers = _as_list(runs, "runs")
    try:
        numbers = [int(n) for n in numbers]
    except (TypeError, ValueError):
        raise SweepSpecError(f"run numbers must be integers, got {runs!r}") from None
    if not numbers or min(numbers) < 1:
        raise SweepSpecError(f"run numbers must be >= 1 and at least one must be given, got {runs!r}")
    if len(set(numbers)) != len(numbers):
        raise SweepSpecError(f"run numbers repeat: {runs!r}")
    return tuple(numbers)


def make_spec(
    methods: Any,
    scenarios: Any,
    runs: Any = 1,
    scale: str = "paper",
    gin_bindings: Sequence[str] = (),
    num_timesteps: int | None = None,
    num_env: int | None = None,
    r_networks_path: str | None = None,
    seed: int | None = None,
) -> SweepSpec:
    """A SweepSpec from lists or comma-separated strings; `runs` = N or a list of numbers.

    Checks the shape only; `validate` checks the names.
    """
    methods, scenarios = _as_list(methods, "methods"), _as_list(scenarios, "scenarios")
    if not methods:
        raise SweepSpecError("no methods given")
    if not scenarios:
        raise SweepSpecError("no scenarios given")
    for name, value in (("num_timesteps", num_timesteps), ("num_env", num_env)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise SweepSpecError(f"{name} must be a positive integer, got {value!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise SweepSpecError(f"seed must be an integer >= 0, got {seed!r}")
    if isinstance(gin_bindings, str):
        gin_bindings = [gin_bindings]
    return SweepSpec(
        tuple(dict.fromkeys(methods)),
        tuple(dict.fromkeys(scenarios)),
        _run_numbers(runs),
        str(scale),
        tuple(gin_bindings),
        num_timesteps,
        num_env,
        r_networks_path,
        seed,
    )


def load_sweep_file(path: str) -> dict:
    """The mapping in a YAML (`.yaml`/`.yml`) or JSON sweep file; keys from SPEC_KEYS.

    Raises:
      SweepSpecError: missing or unparsable file, not a mapping, or an unknown key.
    """
    if not os.path.isfile(path):
        raise SweepSpecError(f"sweep file {path!r} does not exist")
    with open(path) as f:
        text = f.read()
    try:
        if path.endswith((".yaml", ".yml")):
            import yaml  # pylint: disable=import-outside-toplevel  (comes with ray)

            content = yaml.safe_load(text)
        else:
            content = json.loads(text)
    except Exception as error:  # pylint: disable=broad-except  (any parser error)
        raise SweepSpecError(f"sweep file {path!r} cannot be parsed: {error}") from None
    if not isinstance(content, dict):
        raise SweepSpecError(f"sweep file {path!r} must hold a mapping with keys {', '.join(SPEC_KEYS)}")
    unknown = sorted(set(content) - set(SPEC_KEYS))
    if unknown:
        raise SweepSpecError(f"sweep file {path!r}: unknown keys {unknown}; valid: {', '.join(SPEC_KEYS)}")
    for required in ("methods", "scenarios"):
        if required not in content:
            raise SweepSpecError(f"sweep file {path!r} lacks {required!r}")
    return content


def validate(spec: SweepSpec) -> None:
    """Raises one SweepSpecError listing every unknown method, scenario or scale of `spec`.

    Scenario names must be registered; whether their simulator is installed is checked by each
    launcher on its node (a cluster's driver may lack it).
    """
    from episodic_curiosity import environments  # pylint: disable=import-outside-toplevel
    from episodic_curiosity import launcher  # pylint: disable=import-outside-toplevel  (imports TF)

    problems = []
    for method in spec.methods:
        if method not in launcher.METHODS:
            problems.append(f"unknown method {method!r} (valid: {', '.join(launcher.METHODS)})")
    valid_scenarios = environments.scenario_names()
    for scenario in spec.scenarios:
        if scenario not in valid_scenarios:
            problems.append(f"unknown scenario {scenario!r} (valid: {', '.join(valid_scenarios)})")
    if spec.scale not in launcher.SCALES:
        problems.append(f"unknown scale {spec.scale!r} (valid: {', '.join(launcher.SCALES)})")
    if problems:
        raise SweepSpecError("bad sweep: " + "; ".join(problems))


def r_network_owner(scenario: str) -> str:
    """The scenario whose R-network job serves `scenario` (see the module docstring)."""
    from episodic_curiosity import launcher  # pylint: disable=import-outside-toplevel

    level = launcher.RELEASED_R_NETWORK_FOLDERS.get(scenario)
    if level is None:
        return scenario
    return next(name for name, folder in launcher.RELEASED_R_NETWORK_FOLDERS.items() if folder == level)


def plan(spec: SweepSpec) -> list[Job]:
    """The jobs of `spec`: R-network jobs first, then runs (method-major, then scenario, run)."""
    r_jobs: dict[str, Job] = {}
    runs = []
    for method in spec.methods:
        for scenario in spec.scenarios:
            for run_number in spec.runs:
                r_job = None
                if method == "ppo_plus_ec" and not spec.r_networks_path:
                    owner = r_network_owner(scenario)
                    r_dir = os.path.join(R_NETWORK_FOLDER, owner, f"run_number_{run_number}")
                    r_jobs.setdefault(r_dir, Job("r_network", "ppo_plus_ec", owner, run_number, r_dir))
                    r_job = r_dir
                runs.append(
                    Job(
                        "run",
                        method,
                        scenario,
                        run_number,
                        os.path.join(method, scenario, f"run_number_{run_number}"),
                        r_job,
                    )
                )
    return list(r_jobs.values()) + runs


# ----------------------------------------------------------------------------------------------
# The workdir and the command line of a job (both decided by the driver).


def is_uri(path: str) -> bool:
    """Whether `path` is a URI (`scheme://...`) rather than a folder."""
    return "://" in path


def check_workdir(workdir: str) -> str:
    """`workdir` as an absolute folder path.

    Raises:
      SweepSpecError: `workdir` is empty or a URI.
    """
    if not workdir:
        raise SweepSpecError("no workdir given")
    if is_uri(workdir):
        raise SweepSpecError(
            f"workdir {workdir!r} is a URI, but a sweep writes its runs into a folder. On a cluster, "
            "mount the bucket on every node (e.g. gcsfuse for gs://, s3fs for s3://) or use a shared "
            "filesystem such as NFS, and pass that folder's path (the same on every node)"
        )
    return os.path.abspath(os.path.expanduser(workdir))


def launcher_args(job: Job, spec: SweepSpec, workdir: str) -> list[str]:
    """The command line of `job` after the Python interpreter (its Ray task adds its own).

    Args:
      job: Job, a run or an R-network job of `spec`.
      spec: SweepSpec, the sweep.
      workdir: str, the sweep's absolute workdir (the same path on every node).
    """
    bindings = [f"--gin_bindings={b}" for b in spec.gin_bindings]
    seed = f"--seed={spec.seed_of(job.run_number)}"
    if job.kind == "r_network":
        return [
            "-m",
            "episodic_curiosity.sweep",
            f"--run_dir={os.path.join(workdir, job.relative_dir)}",
            f"--scenario={job.scenario}",
            f"--scale={spec.scale}",
            seed,
            *bindings,
        ]
    args = [
        "-m",
        "episodic_curiosity.launcher",
        f"--workdir={workdir}",
        f"--method={job.method}",
        f"--scenario={job.scenario}",
        f"--run_number={job.run_number}",
        f"--scale={spec.scale}",
        seed,
    ]
    if spec.num_timesteps is not None:
        args.append(f"--num_timesteps={spec.num_timesteps}")
    if spec.num_env is not None:
        args.append(f"--num_env={spec.num_env}")
    r_networks_path = spec.r_networks_path
    if job.r_network_job:  # the weights folder the R-network job's launcher.train_r_network_only fills
        r_networks_path = os.path.join(workdir, job.r_network_job, "r_networks")
    if r_networks_path:
        args.append(f"--r_networks_path={r_networks_path}")
    return args + bindings


# ----------------------------------------------------------------------------------------------
# One attempt of a job: the body of its Ray task, on some node.


class LauncherFailed(RuntimeError):
    """A job's launcher exited non-zero (raised by its Ray task, which Ray then retries)."""


def steps_done(run_dir: str) -> int:
    """Agent steps a run has logged: the last `step` of reward_train.csv (0 if none)."""
    try:
        return metrics_csv.last_step(os.path.join(run_dir, "reward_train.csv")) or 0
    except (ValueError, OSError):
        return 0


def read_events(run_dir: str, sweep_id: str | None = None) -> list[dict]:
    """The attempt events of `run_dir` (only those of sweep invocation `sweep_id` unless None)."""
    events = []
    try:
        with open(os.path.join(run_dir, EVENTS_FILE), errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return events
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a killed worker
            continue
        if isinstance(event, dict) and (sweep_id is None or event.get("sweep_id") == sweep_id):
            events.append(event)
    return events


def attempts_started(run_dir: str, sweep_id: str) -> int:
    """How many attempts of the job in `run_dir` sweep invocation `sweep_id` has started."""
    return sum(1 for event in read_events(run_dir, sweep_id) if event.get("event") == "start")


def _append_event(run_dir: str, event: dict) -> None:
    with open(os.path.join(run_dir, EVENTS_FILE), "a") as f:
        f.write(json.dumps(event, sort_keys=True) + "\n")


def _read_json(path: str) -> dict | None:
    try:
        with open(path) as f:
            content = json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
    return content if isinstance(content, dict) else None


def _die_with_parent() -> None:
    """In the launcher subprocess: get SIGKILL when the Ray worker that started it dies (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _outputs_from_log(log_path: str, offset: int) -> dict[str, str]:
    with open(log_path, errors="replace") as f:
        f.seek(offset)
        return {m.group(1): m.group(2) for m in map(_OUTPUT_LINE.match, f.read().splitlines()) if m}


def execute_job(job: Job, args: Sequence[str], workdir: str, sweep_id: str, after: Any = None) -> dict:
    """Runs one attempt of `job`'s launcher to its end on this node: the body of the job's Ray task.

    Args:
      job: Job, what to run.
      args: list of str, the command line after the interpreter (`launcher_args`).
      workdir: str, the sweep's absolute workdir.
      sweep_id: str, this sweep invocation (labels the attempts in the log and the events).
      after: the result of the R-network job this run needs, or None. Unused: it is an argument
        only so that Ray starts this task once that job has finished.

    Returns:
      dict, the job's DONE.json content (also when an earlier attempt wrote it).

    Raises:
      LauncherFailed: the launcher exited non-zero; Ray retries the task, and the launcher started
        again resumes from the checkpoints in the same run dir.
    """
    del after
    run_dir = os.path.join(workdir, job.relative_dir)
    done = _read_json(os.path.join(run_dir, DONE_FILE))
    if done is not None:  # a retry after the worker died between writing DONE.json and returning
        return done
    os.makedirs(run_dir, exist_ok=True)
    command = [sys.executable, *args]
    attempt = attempts_started(run_dir, sweep_id) + 1
    host = socket.gethostname()
    log_path = os.path.join(run_dir, LOG_FILE)
    _append_event(
        run_dir,
        {
            "event": "start",
            "sweep_id": sweep_id,
            "attempt": attempt,
            "host": host,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        },
    )
    started = time.time()
    with open(log_path, "a") as log:
        log.write(
            f"\n===== sweep {sweep_id}: attempt {attempt} on {host}, "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')} =====\n$ {' '.join(command)}\n"
        )
        log.flush()
        offset = log.tell()
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=_PACKAGE_PARENT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    try:
        returncode = process.wait()
    finally:
        if process.poll() is None:  # the task was cancelled or interrupted: stop the launcher too
            process.kill()
            process.wait()
    duration_s = round(time.time() - started, 1)
    with open(log_path, "a") as log:
        log.write(f"===== attempt {attempt} exited with {returncode} after {duration_s:.0f} s =====\n")
    _append_event(
        run_dir,
        {
            "event": "exit",
            "sweep_id": sweep_id,
            "attempt": attempt,
            "host": host,
            "returncode": returncode,
            "duration_s": duration_s,
        },
    )
    if returncode != 0:
        raise LauncherFailed(
            f"launcher exited with {returncode} (attempt {attempt} of this sweep on {host}); log: {log_path}"
        )
    summary = {
        "key": job.key,
        "kind": job.kind,
        "method": job.method,
        "scenario": job.scenario,
        "run_number": job.run_number,
        "attempts": attempt,
        "sweep_id": sweep_id,
        "host": host,
        "steps": steps_done(run_dir),
        "duration_s": duration_s,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "command": command,
        "outputs": _outputs_from_log(log_path, offset),
    }
    atomic_files.write_json(os.path.join(run_dir, DONE_FILE), summary)
    return summary


# ----------------------------------------------------------------------------------------------
# The driver.


def progress_table(states: Mapping[str, Mapping[str, Any]]) -> str:
    """A plain-text table of job states with counts per state."""
    counts = {name: 0 for name in ("pending", "running", "done", "failed", "skipped")}
    for state in states.values():
        counts[state["state"]] = counts.get(state["state"], 0) + 1
    width = max([len(k) for k in states] + [3])
    lines = [
        ", ".join(f"{name} {count}" for name, count in counts.items()),
        f"{'job'.ljust(width)}  {'state':8}  {'attempt':>7}  {'steps':>12}",
    ]
    for key in sorted(states):
        state = states[key]
        lines.append(f"{key.ljust(width)}  {state['state']:8}  {state['attempt']:>7}  {state['steps']:>12}")
    return "\n".join(lines)


def run_sweep(
    spec: SweepSpec,
    workdir: str,
    *,
    address: str | None = None,
    cpus_per_run: float = 1,
    gpus_per_run: float = 0,
    max_attempts: int = 3,
    report_every_s: float = 60.0,
    num_cpus: int | None = None,
    make_report: bool = True,
) -> dict:
    """Runs every unfinished job of `spec` on Ray; returns what happened.

    Args:
      spec: SweepSpec, what to run (validated here, before Ray starts).
      workdir: str, folder for the results: local, or on a cluster one every node sees at the
        same path (NFS, a mounted bucket). URIs are refused.
      address: str or None, Ray address: None starts a local Ray on this machine (unless one is
        already initialized in this process), 'auto' or 'host:port' joins a cluster.
      cpus_per_run: float, CPUs Ray reserves per job.
      gpus_per_run: float, GPUs Ray reserves per job.
      max_attempts: int, attempts per job: Ray retries a job whose launcher failed or whose worker
        or node died `max_attempts - 1` times.
      report_every_s: float, seconds between progress tables.
      num_cpus: int or None, CPUs of a local Ray started here (None: all).
      make_report: bool, write plots and the summary table into `<workdir>/summary/` at the end.

    Returns:
      dict with 'done', 'failed', 'skipped' (lists of job keys), 'results' (per job run now:
      'key', 'state', 'attempts', 'steps', and 'summary' or 'error'), 'states' (the final table's
      entries) and 'report' (plot_training.report's dict, or None).

    Raises:
      SweepSpecError: bad spec, workdir or settings, before Ray is started.
    """
    workdir = check_workdir(workdir)
    validate(spec)
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise SweepSpecError(f"max_attempts must be an integer >= 1, got {max_attempts!r}")
    if cpus_per_run <= 0 or gpus_per_run < 0:
        raise SweepSpecError(f"cpus_per_run must be > 0 and gpus_per_run >= 0, got {cpus_per_run}, {gpus_per_run}")
    jobs = plan(spec)
    from episodic_curiosity import provenance  # pylint: disable=import-outside-toplevel

    provenance.record(
        workdir,
        "sweep",
        seed=spec.seed,
        extra={"spec": dataclasses.asdict(spec), "seeds": {str(n): spec.seed_of(n) for n in spec.runs}},
    )
    finished = {job.key: _read_json(os.path.join(workdir, job.relative_dir, DONE_FILE)) for job in jobs}
    skipped = [key for key, done in finished.items() if done is not None]
    todo = [job for job in jobs if finished[job.key] is None]
    states = {job.key: {"state": "pending", "steps": 0, "attempt": 0} for job in todo}
    for key in skipped:
        done = finished[key]
        states[key] = {"state": "skipped", "steps": done.get("steps", 0), "attempt": done.get("attempts", 0)}
    logging.info(
        "Sweep of %d jobs into %s: %d finished before (skipped), %d to run.",
        len(jobs),
        workdir,
        len(skipped),
        len(todo),
    )
    results: dict[str, dict] = {}
    if todo:
        results = _run_on_ray(
            todo,
            states,
            spec,
            workdir,
            f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}",
            address=address,
            num_cpus=num_cpus,
            cpus_per_run=cpus_per_run,
            gpus_per_run=gpus_per_run,
            max_attempts=max_attempts,
            report_every_s=report_every_s,
        )
    else:
        logging.info("Every job has finished; nothing to run.")
    logging.info("Sweep finished:\n%s", progress_table(states))
    report_result = None
    if make_report and (todo or not os.path.isdir(os.path.join(workdir, SUMMARY_FOLDER))):
        report_result = _report(workdir)
    return {
        "done": sorted(k for k, r in results.items() if r["state"] == "done"),
        "failed": sorted(k for k, r in results.items() if r["state"] != "done"),
        "skipped": sorted(skipped),
        "results": results,
        "states": states,
        "report": report_result,
    }


def _run_on_ray(
    todo: list[Job],
    states: dict,
    spec: SweepSpec,
    workdir: str,
    sweep_id: str,
    *,
    address: str | None,
    num_cpus: int | None,
    cpus_per_run: float,
    gpus_per_run: float,
    max_attempts: int,
    report_every_s: float,
) -> dict[str, dict]:
    import ray  # pylint: disable=import-outside-toplevel

    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "configure_logging": False}
        if address is None:
            kwargs["num_cpus"] = num_cpus
        ray.init(address=address, **kwargs)
    if address is None:  # a local Ray never grows: a job that cannot fit would wait forever
        available = ray.cluster_resources()
        if cpus_per_run > available.get("CPU", 0) or gpus_per_run > available.get("GPU", 0):
            raise SweepSpecError(
                f"each job asks for {cpus_per_run} CPUs and {gpus_per_run} GPUs, but the "
                f"local Ray has {available.get('CPU', 0)} CPUs and "
                f"{available.get('GPU', 0)} GPUs"
            )
    task = ray.remote(execute_job).options(
        num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=max_attempts - 1, retry_exceptions=True
    )
    refs: dict[str, Any] = {}
    for job in todo:  # R-network jobs come first, so their refs exist for the runs that need them
        after = refs.get(job.r_network_job) if job.r_network_job else None
        refs[job.key] = task.remote(job, launcher_args(job, spec, workdir), workdir, sweep_id, after)
    by_key = {job.key: job for job in todo}
    key_of = {ref: key for key, ref in refs.items()}
    remaining = list(refs.values())
    results: dict[str, dict] = {}
    next_report = time.time() + report_every_s
    while remaining:
        ready, remaining = ray.wait(remaining, num_returns=1, timeout=max(0.0, next_report - time.time()))
        for ref in ready:
            key = key_of[ref]
            results[key] = _result(ray, by_key[key], ref, refs, workdir, sweep_id)
            if results[key]["state"] == "done":
                logging.info("Job %s done (attempt %s).", key, results[key]["attempts"])
            else:
                logging.error("Job %s failed: %s", key, results[key]["error"])
        if remaining and time.time() >= next_report:
            _update_states(states, todo, results, workdir, sweep_id)
            logging.info("Sweep progress:\n%s", progress_table(states))
            next_report = time.time() + report_every_s
    _update_states(states, todo, results, workdir, sweep_id)
    return results


def _result(ray, job: Job, ref, refs: Mapping[str, Any], workdir: str, sweep_id: str) -> dict:
    """The final result of `job` from its finished task `ref`."""
    run_dir = os.path.join(workdir, job.relative_dir)
    try:
        summary = ray.get(ref)
    except Exception as error:  # pylint: disable=broad-except  (failed after Ray's retries)
        return {
            "key": job.key,
            "state": "failed",
            "attempts": attempts_started(run_dir, sweep_id),
            "steps": steps_done(run_dir),
            "error": _failure(ray, job, error, refs),
        }
    return {
        "key": job.key,
        "state": "done",
        "attempts": summary.get("attempts", 0),
        "steps": summary.get("steps", 0),
        "summary": summary,
    }


def _failure(ray, job: Job, error: Exception, refs: Mapping[str, Any]) -> str:
    """Why `job`'s task failed, in one line."""
    if job.r_network_job in refs:
        try:
            ray.get(refs[job.r_network_job], timeout=0)
        except Exception:  # pylint: disable=broad-except  (Ray ran no attempt of this run)
            return f"its R-network job {job.r_network_job} failed"
    cause = getattr(error, "cause", None) or error  # a RayTaskError wraps the task's exception
    return f"{type(cause).__name__}: {cause}"


def _update_states(states: dict, todo: Sequence[Job], results: Mapping[str, dict], workdir: str, sweep_id: str) -> None:
    """The table entries of `todo`: final for finished tasks, else from the run dirs."""
    for job in todo:
        result = results.get(job.key)
        if result is not None:
            states[job.key] = {"state": result["state"], "steps": result["steps"], "attempt": result["attempts"]}
            continue
        run_dir = os.path.join(workdir, job.relative_dir)
        attempt = attempts_started(run_dir, sweep_id)
        states[job.key] = {
            "state": "running" if attempt else "pending",
            "steps": steps_done(run_dir),
            "attempt": attempt,
        }


def _report(workdir: str) -> dict | None:
    """plot_training.report over the workdir into `<workdir>/summary/`; None (logged) if it fails."""
    output_dir = os.path.join(workdir, SUMMARY_FOLDER)
    try:
        from episodic_curiosity import plot_training  # pylint: disable=import-outside-toplevel

        result = plot_training.report([workdir], output_dir)
    except Exception as error:  # pylint: disable=broad-except  (the sweep's results stand without it)
        logging.error("No summary plots/table for %s: %s: %s", workdir, type(error).__name__, error)
        return None
    logging.info("Summary table: %s; plots: %s", result["summary_markdown"], ", ".join(result["plots"]))
    return result


# ----------------------------------------------------------------------------------------------
# Entry point of R-network jobs (run by the sweep as a subprocess, not by hand).


def _define_flags() -> None:
    from absl import flags  # pylint: disable=import-outside-toplevel

    flags.DEFINE_string("run_dir", None, "Folder of the R-network job.")
    flags.DEFINE_string("scenario", None, "Scenario whose random-policy data trains the R-network.")
    flags.DEFINE_string("scale", "paper", "paper or smoke sizes.")
    flags.DEFINE_multi_string("gin_bindings", [], "Extra gin bindings.")
    flags.DEFINE_integer("seed", 0, "The seed of the runs this R-network serves.")


def main(argv: Sequence[str]) -> None:
    del argv
    from absl import flags  # pylint: disable=import-outside-toplevel

    from episodic_curiosity import launcher  # pylint: disable=import-outside-toplevel
    from episodic_curiosity import process_control  # pylint: disable=import-outside-toplevel

    config = flags.FLAGS
    if not config.run_dir or not config.scenario:
        raise SystemExit("--run_dir and --scenario are required")
    process_control.install_stop_handlers()
    checkpoint = launcher.train_r_network_only(
        config.run_dir, config.scenario, config.scale, config.gin_bindings, show_progress=False, seed=config.seed
    )
    print(f"r_checkpoint: {checkpoint}")


if __name__ == "__main__":
    from absl import app  # pylint: disable=ungrouped-imports

    _define_flags()
    app.run(main)
