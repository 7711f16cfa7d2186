r"""Sweeps of launcher runs (methods x scenarios x run numbers) on Ray, restartable and retried.

Every run is one launcher (`python -m episodic_curiosity.launcher`) invocation in its own process (a Ray task spawns
it as a subprocess, so TensorFlow state and crashes stay isolated), in the launcher's layout
`<workdir>/<method>/<scenario>/run_number_<n>/`, with its output in `<run_dir>/launcher.log`.

* **Shared R-networks.** Without `r_networks_path`, `ppo_plus_ec` needs a trained R-network.
  The original trained one per DMLab level and reused it across scenarios of that level
  (`launcher.RELEASED_R_NETWORK_FOLDERS`: sparse, verysparse, noreward and norewardnofire all
  use `explore_goal_locations_large`). A sweep therefore first runs one R-network job per
  (owning scenario, run number), where the owner of a scenario is the first scenario of
  `RELEASED_R_NETWORK_FOLDERS` with the same level folder (verysparse, noreward,
  norewardnofire -> sparse; every other scenario owns its own). The job trains into
  `<workdir>/r_networks/<owner>/run_number_<n>/` and the `ppo_plus_ec` runs of run number `n`
  of all scenarios it serves get `--r_networks_path=<that folder>/r_networks`.
* **Fault tolerance.** A launcher that exits non-zero (killed, crashed) is started again on the
  same run dir, where it resumes from its checkpoints, up to `max_attempts` times per sweep
  invocation; a lost Ray worker or node is retried by Ray (`ray_max_retries`). The launcher
  subprocess dies with its Ray worker (Linux parent-death signal), so a retry never races an
  orphan. `<run_dir>/sweep_attempts.json` counts attempts across retries.
* **Restarts.** A run whose launcher exited 0 gets `<run_dir>/DONE.json` (written atomically,
  with a summary); a sweep started again skips such runs, and starts no Ray at all when every
  run is done.
* **Storage.** `workdir` is a local folder (shared by all nodes on a cluster, e.g. NFS) or a
  `pyarrow.fs` URI (`gs://bucket/x`, `s3://bucket/x`, `file:///path`): runs then work in a
  local staging folder and copy their files to the URI every `sync_period_s` and when they end;
  a retried run first copies back what the URI holds, so it resumes on any node.
* **Progress.** Every `report_every_s` the driver logs a table of runs (pending / running /
  done / failed, attempt, agent steps = last `step` of `reward_train.csv`); at the end it logs
  the final table and writes plots and the summary table with `plot_training.report` into
  `<workdir>/summary/`.

    from episodic_curiosity import sweep
    spec = sweep.make_spec(["ppo", "ppo_plus_ec"], ["sparse", "verysparse"], runs=10)
    sweep.run_sweep(spec, "/data/ec_sweep", address="auto", cpus_per_run=16)

Needs `ray` (extra `ray`), and `pyarrow` for URI workdirs.
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Iterable, Mapping, Sequence

from absl import logging

from episodic_curiosity import atomic_files
from episodic_curiosity import metrics_csv

DONE_FILE = "DONE.json"
ATTEMPTS_FILE = "sweep_attempts.json"
LOG_FILE = "launcher.log"
R_NETWORK_FOLDER = "r_networks"  # <workdir>/r_networks/<owner scenario>/run_number_<n>/
SUMMARY_FOLDER = "summary"
SPEC_KEYS = ("methods", "scenarios", "runs", "scale", "gin_bindings", "num_timesteps", "num_env",
             "r_networks_path", "seed")
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


def make_spec(methods: Any, scenarios: Any, runs: Any = 1, scale: str = "paper",
              gin_bindings: Sequence[str] = (), num_timesteps: int | None = None,
              num_env: int | None = None, r_networks_path: str | None = None,
              seed: int | None = None) -> SweepSpec:
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
    return SweepSpec(tuple(dict.fromkeys(methods)), tuple(dict.fromkeys(scenarios)), _run_numbers(runs),
                     str(scale), tuple(gin_bindings), num_timesteps, num_env, r_networks_path, seed)


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
        if method in launcher.NOT_YET_METHODS:
            problems.append(f"method {method!r}: {launcher.NOT_YET_METHODS[method]}")
        elif method not in launcher.METHODS:
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
                runs.append(Job("run", method, scenario, run_number,
                                os.path.join(method, scenario, f"run_number_{run_number}"), r_job))
    return list(r_jobs.values()) + runs


# ----------------------------------------------------------------------------------------------
# Storage: a local workdir, or a pyarrow.fs URI with local staging.


def is_uri(path: str) -> bool:
    return "://" in path


class Storage:
    """Where run folders live: directly in a local workdir, or staged locally and synced to a URI.

    Args:
      workdir: str, local folder or pyarrow.fs URI.
      staging_dir: str or None, local folder for staged runs of a URI workdir (default: a folder
        under the system temp dir named after the URI).
    """

    def __init__(self, workdir: str, staging_dir: str | None = None):
        self.workdir = workdir
        self.remote = is_uri(workdir)
        if self.remote:
            from pyarrow import fs as pafs  # pylint: disable=import-outside-toplevel
            self._fs, root = pafs.FileSystem.from_uri(workdir)
            self._root = root.rstrip("/")
            self._created: set[str] = set()
            digest = hashlib.sha1(workdir.encode()).hexdigest()[:12]
            self.local_root = os.path.abspath(staging_dir or os.path.join(
                tempfile.gettempdir(), "episodic_curiosity_sweep", digest))
        else:
            self._fs, self._root = None, None
            self.local_root = os.path.abspath(workdir)

    def local_dir(self, relative_dir: str) -> str:
        return os.path.join(self.local_root, relative_dir)

    def _remote_path(self, relative_path: str) -> str:
        return f"{self._root}/{relative_path.replace(os.sep, '/')}"

    def read_done(self, relative_dir: str) -> dict | None:
        """The job's DONE.json content, or None if it has not finished."""
        relative_path = os.path.join(relative_dir, DONE_FILE)
        if not self.remote:
            return _read_json(os.path.join(self.local_root, relative_path))
        from pyarrow import fs as pafs  # pylint: disable=import-outside-toplevel
        path = self._remote_path(relative_path)
        if self._fs.get_file_info(path).type != pafs.FileType.File:
            return None
        with self._fs.open_input_stream(path) as stream:
            return json.loads(stream.read().decode())

    def _remote_files(self, relative_dir: str) -> dict[str, int]:
        from pyarrow import fs as pafs  # pylint: disable=import-outside-toplevel
        base = self._remote_path(relative_dir)
        if self._fs.get_file_info(base).type != pafs.FileType.Directory:
            return {}
        infos = self._fs.get_file_info(pafs.FileSelector(base, recursive=True))
        return {info.path[len(base) + 1:]: info.size for info in infos if info.type == pafs.FileType.File}

    def pull(self, relative_dir: str, suffixes: tuple[str, ...] | None = None) -> int:
        """Copies the job's remote files that are missing or of another size locally; returns the count.

        Args:
          relative_dir: str, the job's folder under the workdir.
          suffixes: tuple of str or None, copy only files whose names end so.
        """
        if not self.remote:
            return 0
        copied = 0
        for name, size in self._remote_files(relative_dir).items():
            if suffixes and not name.endswith(suffixes):
                continue
            local = os.path.join(self.local_dir(relative_dir), name)
            if os.path.isfile(local) and os.path.getsize(local) == size:
                continue
            with self._fs.open_input_stream(self._remote_path(os.path.join(relative_dir, name))) as stream:
                atomic_files.write_bytes(local, stream.read())
            copied += 1
        return copied

    def push(self, relative_dir: str, pushed: dict[str, tuple[int, int]] | None = None) -> dict:
        """Copies the job's new or changed local files to the URI; DONE.json last.

        Args:
          relative_dir: str, the job's folder under the workdir.
          pushed: dict or None, what the previous push of this job sent (returned by it); files
            sent then and removed locally since (old checkpoints) are removed remotely.

        Returns:
          dict name -> (size, mtime_ns) of the files now on the URI, for the next push.
        """
        pushed = dict(pushed or {})
        if not self.remote:
            return pushed
        local_dir = self.local_dir(relative_dir)
        current = {}
        for directory, _, names in os.walk(local_dir):
            for name in names:
                if name.startswith("tmp_"):
                    continue  # an atomic write in progress
                path = os.path.join(directory, name)
                try:
                    stat = os.stat(path)
                except FileNotFoundError:
                    continue
                current[os.path.relpath(path, local_dir)] = (stat.st_size, stat.st_mtime_ns)
        for name in sorted(current, key=lambda n: n == DONE_FILE):
            if pushed.get(name) == current[name]:
                continue
            try:
                with open(os.path.join(local_dir, name), "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                continue
            self._write(os.path.join(relative_dir, name), data)
            pushed[name] = current[name]
        for name in [n for n in pushed if n not in current]:
            try:
                self._fs.delete_file(self._remote_path(os.path.join(relative_dir, name)))
            except OSError:
                pass
            del pushed[name]
        return pushed

    def push_folder(self, local_dir: str, relative_dir: str) -> None:
        """Copies a local folder (e.g. the summary) to `relative_dir` under the URI."""
        if not self.remote:
            return
        for directory, _, names in os.walk(local_dir):
            for name in names:
                path = os.path.join(directory, name)
                with open(path, "rb") as f:
                    self._write(os.path.join(relative_dir, os.path.relpath(path, local_dir)), f.read())

    def _write(self, relative_path: str, data: bytes) -> None:
        path = self._remote_path(relative_path)
        parent = path.rsplit("/", 1)[0]
        if parent not in self._created:  # needed by local/HDFS file systems, harmless on buckets
            self._fs.create_dir(parent, recursive=True)
            self._created.add(parent)
        with self._fs.open_output_stream(path) as stream:
            stream.write(data)


def _read_json(path: str) -> dict | None:
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


# ----------------------------------------------------------------------------------------------
# One job, executed inside a Ray task on some node.


@dataclasses.dataclass(frozen=True)
class ExecutionSettings:
    """How a job runs; the same for every job of a sweep invocation.

    Attributes:
      workdir: str, local folder or URI.
      staging_dir: str or None, local staging folder for URI workdirs.
      spec: SweepSpec, the sweep.
      sweep_id: str, identifies this sweep invocation (attempts are counted per invocation).
      max_attempts: int, launcher starts per job and invocation before it counts as failed.
      sync_period_s: float, seconds between copies to a URI workdir while a job runs.
      poll_s: float, seconds between looks at a running job.
      kill_after_first_checkpoint: tuple of str, job keys whose FIRST attempt is SIGKILLed once its
        first policy checkpoint exists (fault-injection for tests).
    """

    workdir: str
    staging_dir: str | None
    spec: SweepSpec
    sweep_id: str
    max_attempts: int = 3
    sync_period_s: float = 600.0
    poll_s: float = 1.0
    kill_after_first_checkpoint: tuple[str, ...] = ()


def launcher_command(job: Job, settings: ExecutionSettings, local_root: str,
                     r_networks_path: str | None) -> list[str]:
    """The subprocess command line of `job` (its outputs go under `local_root`)."""
    spec = settings.spec
    bindings = [f"--gin_bindings={b}" for b in spec.gin_bindings]
    if job.kind == "r_network":
        return [sys.executable, "-m", "episodic_curiosity.sweep",
                f"--run_dir={os.path.join(local_root, job.relative_dir)}",
                f"--scenario={job.scenario}", f"--scale={spec.scale}",
                f"--seed={spec.seed_of(job.run_number)}", *bindings]
    command = [sys.executable, "-m", "episodic_curiosity.launcher", f"--workdir={local_root}",
               f"--method={job.method}",
               f"--scenario={job.scenario}", f"--run_number={job.run_number}", f"--scale={spec.scale}",
               f"--seed={spec.seed_of(job.run_number)}"]
    if spec.num_timesteps is not None:
        command.append(f"--num_timesteps={spec.num_timesteps}")
    if spec.num_env is not None:
        command.append(f"--num_env={spec.num_env}")
    if r_networks_path:
        command.append(f"--r_networks_path={r_networks_path}")
    return command + bindings


def steps_done(run_dir: str) -> int:
    """Agent steps a run has logged: the last `step` of reward_train.csv (0 if none)."""
    try:
        return metrics_csv.last_step(os.path.join(run_dir, "reward_train.csv")) or 0
    except (ValueError, OSError):
        return 0


def _die_with_parent() -> None:
    """In the launcher subprocess: get SIGKILL when the Ray worker that started it dies (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _has_checkpoint(run_dir: str) -> bool:
    directory = os.path.join(run_dir, "checkpoints")
    return os.path.isdir(directory) and any(n.startswith("policy.") and n.endswith(".h5")
                                            for n in os.listdir(directory))


def _outputs_from_log(log_path: str, offset: int) -> dict[str, str]:
    with open(log_path, errors="replace") as f:
        f.seek(offset)
        return {m.group(1): m.group(2) for m in map(_OUTPUT_LINE.match, f.read().splitlines()) if m}


def execute_job(job: Job, settings: ExecutionSettings, r_network_result: dict | None = None,
                board=None) -> dict:
    """Runs `job` to completion (retrying its launcher) on this node; returns its result.

    Args:
      job: Job, what to run.
      settings: ExecutionSettings, how.
      r_network_result: dict or None, the result of the R-network job this run waits for.
      board: Ray actor handle or None, receives progress updates (`ProgressBoard`).

    Returns:
      dict with 'key', 'state' ('done' or 'failed'), 'attempts', 'returncode', 'steps' and, when
      done, 'summary' (the DONE.json content).
    """
    storage = Storage(settings.workdir, settings.staging_dir)
    def report(**state) -> None:
        if board is not None:
            board.update.remote(job.key, **state)

    run_dir = storage.local_dir(job.relative_dir)
    if r_network_result is not None and r_network_result.get("state") != "done":
        report(state="failed", steps=0, attempt=0)
        return {"key": job.key, "state": "failed", "attempts": 0, "returncode": None, "steps": 0,
                "error": f"its R-network job {job.r_network_job} failed"}
    storage.pull(job.relative_dir)  # a retry on another node continues from the URI's files
    done = _read_json(os.path.join(run_dir, DONE_FILE))
    if done is not None:
        storage.push(job.relative_dir)
        return {"key": job.key, "state": "done", "attempts": done.get("attempts", 0), "returncode": 0,
                "steps": done.get("steps", 0), "summary": done}
    r_networks_path = settings.spec.r_networks_path
    if job.r_network_job:
        # Only the weights folder: the job's random-policy TFRecords are not needed here.
        r_networks_relative = os.path.join(job.r_network_job, "r_networks")
        storage.pull(r_networks_relative)
        r_networks_path = storage.local_dir(r_networks_relative)
    command = launcher_command(job, settings, storage.local_root, r_networks_path)
    os.makedirs(run_dir, exist_ok=True)
    counts = _read_json(os.path.join(run_dir, ATTEMPTS_FILE)) or {}
    attempts = counts.get("attempts", 0) if counts.get("sweep_id") == settings.sweep_id else 0
    total_attempts = counts.get("total_attempts", 0)
    log_path = os.path.join(run_dir, LOG_FILE)
    pushed: dict = {}
    returncode = None
    while attempts < settings.max_attempts:
        attempts += 1
        total_attempts += 1
        atomic_files.write_json(os.path.join(run_dir, ATTEMPTS_FILE), {
            "sweep_id": settings.sweep_id, "attempts": attempts, "total_attempts": total_attempts})
        started = time.time()
        with open(log_path, "a") as log:
            log.write(f"\n===== sweep {settings.sweep_id}: attempt {attempts} (total {total_attempts}), "
                      f"{time.strftime('%Y-%m-%d %H:%M:%S')} =====\n$ {' '.join(command)}\n")
            log.flush()
            offset = log.tell()
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=_PACKAGE_PARENT,
                                       preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        kill = attempts == 1 and job.key in settings.kill_after_first_checkpoint
        last_sync = time.time()
        last_steps = None
        try:
            while process.poll() is None:
                steps = steps_done(run_dir)
                if steps != last_steps:  # the board only needs changes
                    report(state="running", steps=steps, attempt=attempts)
                    last_steps = steps
                if kill and _has_checkpoint(run_dir):
                    logging.warning("Fault injection: SIGKILL to the launcher of %s", job.key)
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                    break
                if storage.remote and time.time() - last_sync >= settings.sync_period_s:
                    pushed = storage.push(job.relative_dir, pushed)
                    last_sync = time.time()
                time.sleep(settings.poll_s)
        finally:
            if process.poll() is None:  # this task was cancelled or failed: stop the launcher too
                process.kill()
                process.wait()
        returncode = process.returncode
        with open(log_path, "a") as log:
            log.write(f"===== attempt {attempts} exited with {returncode} after "
                      f"{time.time() - started:.0f} s =====\n")
        if returncode == 0:
            summary = {"key": job.key, "kind": job.kind, "method": job.method, "scenario": job.scenario,
                       "run_number": job.run_number, "attempts": attempts, "total_attempts": total_attempts,
                       "steps": steps_done(run_dir), "duration_s": round(time.time() - started, 1),
                       "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": command,
                       "outputs": _outputs_from_log(log_path, offset)}
            atomic_files.write_json(os.path.join(run_dir, DONE_FILE), summary)
            storage.push(job.relative_dir, pushed)
            report(state="done", steps=summary["steps"], attempt=attempts)
            return {"key": job.key, "state": "done", "attempts": attempts, "returncode": 0,
                    "steps": summary["steps"], "summary": summary}
        logging.warning("%s: launcher exited with %s (attempt %d of %d); see %s", job.key, returncode,
                        attempts, settings.max_attempts, log_path)
        pushed = storage.push(job.relative_dir, pushed)
    report(state="failed", steps=steps_done(run_dir), attempt=attempts)
    return {"key": job.key, "state": "failed", "attempts": attempts, "returncode": returncode,
            "steps": steps_done(run_dir), "error": f"launcher exited with {returncode}; log: {log_path}"}


class ProgressBoard:
    """Collects the state of every job (a Ray actor during a sweep)."""

    def __init__(self, keys: Iterable[str]):
        self._states = {key: {"state": "pending", "steps": 0, "attempt": 0} for key in keys}

    def update(self, key: str, state: str, steps: int, attempt: int) -> None:
        self._states[key] = {"state": state, "steps": int(steps), "attempt": int(attempt)}

    def snapshot(self) -> dict[str, dict]:
        return dict(self._states)


def progress_table(states: Mapping[str, Mapping[str, Any]]) -> str:
    """A plain-text table of job states with counts per state."""
    counts = {name: 0 for name in ("pending", "running", "done", "failed", "skipped")}
    for state in states.values():
        counts[state["state"]] = counts.get(state["state"], 0) + 1
    width = max([len(k) for k in states] + [3])
    lines = [", ".join(f"{name} {count}" for name, count in counts.items()),
             f"{'job'.ljust(width)}  {'state':8}  {'attempt':>7}  {'steps':>12}"]
    for key in sorted(states):
        state = states[key]
        lines.append(f"{key.ljust(width)}  {state['state']:8}  {state['attempt']:>7}  {state['steps']:>12}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# The driver.


def run_sweep(spec: SweepSpec, workdir: str, *, address: str | None = None, cpus_per_run: float = 1,
              gpus_per_run: float = 0, max_attempts: int = 3, ray_max_retries: int = 3,
              staging_dir: str | None = None, report_every_s: float = 60.0, sync_period_s: float = 600.0,
              poll_s: float = 1.0, num_cpus: int | None = None, make_report: bool = True,
              kill_after_first_checkpoint: Sequence[str] = ()) -> dict:
    """Runs every unfinished job of `spec` on Ray; returns what happened.

    Args:
      spec: SweepSpec, what to run (validated here, before Ray starts).
      workdir: str, local folder or pyarrow.fs URI for the results.
      address: str or None, Ray address: None starts a local Ray on this machine (unless one is
        already initialized in this process), 'auto' or 'host:port' joins a cluster.
      cpus_per_run: float, CPUs Ray reserves per job.
      gpus_per_run: float, GPUs Ray reserves per job.
      max_attempts: int, launcher starts per job before it counts as failed.
      ray_max_retries: int, Ray retries of a job whose worker or node died.
      staging_dir: str or None, local staging folder for URI workdirs.
      report_every_s: float, seconds between progress tables.
      sync_period_s: float, seconds between copies to a URI workdir while a job runs.
      poll_s: float, seconds between looks at a running launcher.
      num_cpus: int or None, CPUs of a local Ray started here (None: all).
      make_report: bool, write plots and the summary table into `<workdir>/summary/` at the end.
      kill_after_first_checkpoint: job keys whose first attempt is killed (fault injection, tests).

    Returns:
      dict with 'done', 'failed', 'skipped' (lists of job keys), 'results' (per job run now),
      'states' (the final table's entries) and 'report' (plot_training.report's dict, or None).

    Raises:
      SweepSpecError: bad spec or settings, before Ray is started.
    """
    validate(spec)
    if max_attempts < 1:
        raise SweepSpecError(f"max_attempts must be >= 1, got {max_attempts}")
    if cpus_per_run <= 0 or gpus_per_run < 0:
        raise SweepSpecError(f"cpus_per_run must be > 0 and gpus_per_run >= 0, "
                             f"got {cpus_per_run}, {gpus_per_run}")
    storage = Storage(workdir, staging_dir)
    jobs = plan(spec)
    if not is_uri(workdir):
        from episodic_curiosity import provenance  # pylint: disable=import-outside-toplevel
        provenance.record(workdir, "sweep", seed=spec.seed,
                          extra={"spec": dataclasses.asdict(spec),
                                 "seeds": {str(n): spec.seed_of(n) for n in spec.runs}})
    finished = {job.key: storage.read_done(job.relative_dir) for job in jobs}
    skipped = [key for key, done in finished.items() if done is not None]
    todo = [job for job in jobs if finished[job.key] is None]
    states = {job.key: {"state": "pending", "steps": 0, "attempt": 0} for job in todo}
    for key in skipped:
        done = finished[key]
        states[key] = {"state": "skipped", "steps": done.get("steps", 0), "attempt": done.get("attempts", 0)}
    logging.info("Sweep of %d jobs into %s: %d finished before (skipped), %d to run.", len(jobs), workdir,
                 len(skipped), len(todo))
    results: dict[str, dict] = {}
    if todo:
        results = _run_on_ray(todo, states, storage, ExecutionSettings(
            workdir=workdir, staging_dir=staging_dir, spec=spec, sweep_id=time.strftime("%Y%m%d-%H%M%S"),
            max_attempts=max_attempts, sync_period_s=sync_period_s, poll_s=poll_s,
            kill_after_first_checkpoint=tuple(kill_after_first_checkpoint)),
            address=address, num_cpus=num_cpus, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run,
            ray_max_retries=ray_max_retries, report_every_s=report_every_s)
    else:
        logging.info("Every job has finished; nothing to run.")
    logging.info("Sweep finished:\n%s", progress_table(states))
    report_result = None
    if make_report and (todo or not _summary_exists(storage)):
        report_result = _report(storage, jobs)
    return {"done": sorted(k for k, r in results.items() if r["state"] == "done"),
            "failed": sorted(k for k, r in results.items() if r["state"] != "done"),
            "skipped": sorted(skipped), "results": results, "states": states, "report": report_result}


def _run_on_ray(todo: list[Job], states: dict, storage: Storage, settings: ExecutionSettings, *,
                address: str | None, num_cpus: int | None, cpus_per_run: float, gpus_per_run: float,
                ray_max_retries: int, report_every_s: float) -> dict[str, dict]:
    import ray  # pylint: disable=import-outside-toplevel

    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "configure_logging": False}
        if address is None:
            kwargs["num_cpus"] = num_cpus
        ray.init(address=address, **kwargs)
    if address is None:  # a local Ray never grows: a job that cannot fit would wait forever
        available = ray.cluster_resources()
        if cpus_per_run > available.get("CPU", 0) or gpus_per_run > available.get("GPU", 0):
            raise SweepSpecError(f"each job asks for {cpus_per_run} CPUs and {gpus_per_run} GPUs, but the "
                                 f"local Ray has {available.get('CPU', 0)} CPUs and "
                                 f"{available.get('GPU', 0)} GPUs")
    board = ray.remote(num_cpus=0)(ProgressBoard).remote(list(states))
    remote_job = ray.remote(execute_job).options(num_cpus=cpus_per_run, num_gpus=gpus_per_run,
                                                 max_retries=ray_max_retries, retry_exceptions=False)
    refs: dict[str, Any] = {}
    for job in todo:  # R-network jobs come first, so their refs exist for the runs that wait
        dependency = refs.get(job.r_network_job) if job.r_network_job else None
        refs[job.key] = remote_job.remote(job, settings, dependency, board)
    by_ref = {ref: key for key, ref in refs.items()}
    remaining = list(refs.values())
    results: dict[str, dict] = {}
    last_report = time.time()
    while remaining:
        ready, remaining = ray.wait(remaining, num_returns=1, timeout=min(report_every_s, 5.0))
        for ref in ready:
            key = by_ref[ref]
            try:
                results[key] = ray.get(ref)
            except Exception as error:  # pylint: disable=broad-except  (worker/node lost beyond retries)
                results[key] = {"key": key, "state": "failed", "error": str(error), "attempts": None,
                                "steps": 0, "returncode": None}
            if results[key]["state"] != "done":
                logging.error("Job %s failed: %s", key, results[key].get("error"))
        if time.time() - last_report >= report_every_s or not remaining:
            states.update(ray.get(board.snapshot.remote()))
            for key, result in results.items():  # results are final, whatever the board saw
                states[key] = {"state": result["state"], "steps": result.get("steps") or 0,
                               "attempt": result.get("attempts") or states[key]["attempt"]}
            if remaining:
                logging.info("Sweep progress:\n%s", progress_table(states))
            last_report = time.time()
    ray.kill(board)
    return results


def _summary_exists(storage: Storage) -> bool:
    return os.path.isdir(os.path.join(storage.local_root, SUMMARY_FOLDER))


def _report(storage: Storage, jobs: Sequence[Job]) -> dict | None:
    """plot_training.report over the workdir into `<workdir>/summary/`; None (logged) if it fails."""
    if storage.remote:  # reward CSVs of every run to the local mirror, the summary back to the URI
        for job in jobs:
            if job.kind == "run":
                storage.pull(job.relative_dir, suffixes=(".csv", ".json", "flags.txt"))
    output_dir = os.path.join(storage.local_root, SUMMARY_FOLDER)
    try:
        from episodic_curiosity import plot_training  # pylint: disable=import-outside-toplevel
        result = plot_training.report([storage.local_root], output_dir)
    except Exception as error:  # pylint: disable=broad-except  (the sweep's results stand without it)
        logging.error("No summary plots/table for %s: %s: %s", storage.workdir, type(error).__name__, error)
        return None
    storage.push_folder(output_dir, SUMMARY_FOLDER)
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
    checkpoint = launcher.train_r_network_only(config.run_dir, config.scenario, config.scale,
                                               config.gin_bindings, show_progress=False, seed=config.seed)
    print(f"r_checkpoint: {checkpoint}")


if __name__ == "__main__":
    from absl import app  # pylint: disable=ungrouped-imports
    _define_flags()
    app.run(main)
