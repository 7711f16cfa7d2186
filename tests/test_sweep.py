"""Ray sweeps: spec errors before Ray, R-network sharing, Ray's retries that resume, skipping, no URIs.

Faults are injected from here: the tests replace `sweep.launcher_args` (which the driver calls to
build each job's command line) by commands that fail, wrap the real launcher, or stand in for it.
"""

import json
import logging
import os
import subprocess
import sys
import time

import pytest

ray = pytest.importorskip("ray")

from episodic_curiosity import metrics_csv  # noqa: E402 pylint: disable=wrong-import-position
from episodic_curiosity import sweep  # noqa: E402 pylint: disable=wrong-import-position

import tiny_config  # noqa: E402 pylint: disable=wrong-import-position

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = tiny_config.TINY_ON_FAKE
# 13 updates of 2 envs x 8 steps: checkpoints at updates 1, 10 and 13.
NUM_TIMESTEPS = 200

# Wraps the real launcher (argv: marker, run dir, launcher arguments). Its first start (no marker
# yet) SIGKILLs the launcher once the first policy checkpoint exists and exits 1; later starts
# are the launcher itself.
FLAKY_LAUNCHER = """\
import glob, os, subprocess, sys, time
marker, run_dir, launcher = sys.argv[1], sys.argv[2], sys.argv[3:]
if os.path.exists(marker):
    os.execv(sys.executable, [sys.executable, *launcher])
open(marker, "w").close()
process = subprocess.Popen([sys.executable, *launcher])
while process.poll() is None and not glob.glob(os.path.join(run_dir, "checkpoints", "policy.*.h5")):
    time.sleep(0.05)
if process.poll() is None:
    process.kill()
    print("flaky launcher: killed the launcher after its first checkpoint", flush=True)
else:
    print(f"flaky launcher: the launcher ended by itself with {process.returncode}", flush=True)
process.wait()
sys.exit(1)
"""


def _spec(methods, runs=2):
    return sweep.make_spec(
        methods, ["fake"], runs=runs, scale="smoke", gin_bindings=TINY, num_timesteps=NUM_TIMESTEPS, num_env=2
    )


def _key(method, run_number=1, scenario="fake"):
    return os.path.join(method, scenario, f"run_number_{run_number}")


@pytest.fixture(scope="module")
def ray_session():
    """One small local Ray for the module's sweeps (run_sweep uses an initialized session)."""
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def no_ray(monkeypatch):
    """Fails the test if a sweep tries to start or use Ray."""

    def refuse(*args, **kwargs):
        raise AssertionError("Ray was started")

    monkeypatch.setattr(ray, "init", refuse)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "remote", refuse)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(methods=["ppo", "ppo_plus_magic"], scenarios=["fake"]), "unknown method 'ppo_plus_magic'"),
        (dict(methods=["ppo"], scenarios=["fake", "nowhere"]), "unknown scenario 'nowhere'"),
        (dict(methods=["ppo"], scenarios=["fake"], scale="huge"), "unknown scale 'huge'"),
    ],
)
def test_unknown_names_fail_before_ray(kwargs, message, tmp_path, no_ray):
    with pytest.raises(sweep.SweepSpecError, match=message):
        sweep.run_sweep(sweep.make_spec(**kwargs), str(tmp_path))
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("workdir", ["gs://my-bucket/ec", "s3://my-bucket/ec", "file:///tmp/ec"])
def test_a_uri_workdir_is_refused_with_the_fix(workdir, tmp_path, no_ray, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(sweep.SweepSpecError) as error:
        sweep.run_sweep(_spec(["ppo"], runs=1), workdir)
    message = str(error.value)
    assert f"workdir {workdir!r} is a URI" in message
    assert "mount the bucket on every node" in message and "NFS" in message
    assert not os.listdir(tmp_path)  # nothing written anywhere, e.g. no folder named 'gs:'


def test_bad_shapes_and_files_fail_clearly(tmp_path):
    with pytest.raises(sweep.SweepSpecError, match="runs must be >= 1, got 0"):
        sweep.make_spec(["ppo"], ["fake"], runs=0)
    with pytest.raises(sweep.SweepSpecError, match="run numbers must be >= 1"):
        sweep.make_spec(["ppo"], ["fake"], runs=[1, -2])
    with pytest.raises(sweep.SweepSpecError, match="no methods"):
        sweep.make_spec([], ["fake"])
    with pytest.raises(sweep.SweepSpecError, match="num_env must be a positive integer"):
        sweep.make_spec(["ppo"], ["fake"], num_env=0)
    with pytest.raises(sweep.SweepSpecError, match="does not exist"):
        sweep.load_sweep_file(str(tmp_path / "missing.yaml"))
    (tmp_path / "broken.yaml").write_text("methods: [ppo\n")
    with pytest.raises(sweep.SweepSpecError, match="cannot be parsed"):
        sweep.load_sweep_file(str(tmp_path / "broken.yaml"))
    (tmp_path / "extra.json").write_text(json.dumps({"methods": ["ppo"], "scenarios": ["fake"], "seeds": 3}))
    with pytest.raises(sweep.SweepSpecError, match=r"unknown keys \['seeds'\]"):
        sweep.load_sweep_file(str(tmp_path / "extra.json"))
    (tmp_path / "good.yaml").write_text(
        "methods: [ppo, ppo_plus_ec]\nscenarios: fake\nruns: [2, 5]\n"
        "scale: smoke\ngin_bindings: ['PPOConfig.nsteps = 8']\n"
    )
    spec = sweep.make_spec(**sweep.load_sweep_file(str(tmp_path / "good.yaml")))
    assert spec.methods == ("ppo", "ppo_plus_ec") and spec.scenarios == ("fake",) and spec.runs == (2, 5)
    assert spec.scale == "smoke" and spec.gin_bindings == ("PPOConfig.nsteps = 8",)
    with pytest.raises(sweep.SweepSpecError, match="max_attempts must be an integer >= 1"):
        sweep.run_sweep(spec, str(tmp_path / "sweep"), max_attempts=0)


def test_plan_trains_one_r_network_per_level_and_run():
    spec = sweep.make_spec(["ppo", "ppo_plus_ec"], ["sparse", "verysparse", "noreward", "dense1", "fake"], runs=2)
    jobs = sweep.plan(spec)
    r_jobs = [job for job in jobs if job.kind == "r_network"]
    assert [job.key for job in r_jobs] == [
        os.path.join("r_networks", s, f"run_number_{n}")
        for s, n in (("sparse", 1), ("sparse", 2), ("dense1", 1), ("dense1", 2), ("fake", 1), ("fake", 2))
    ]
    assert jobs[: len(r_jobs)] == r_jobs  # before the runs that wait for them
    by_key = {job.key: job for job in jobs}
    assert by_key[_key("ppo_plus_ec", 2, "verysparse")].r_network_job == os.path.join(
        "r_networks", "sparse", "run_number_2"
    )
    assert by_key[_key("ppo_plus_ec", 1, "noreward")].r_network_job == os.path.join(
        "r_networks", "sparse", "run_number_1"
    )
    assert by_key[_key("ppo_plus_ec", 1, "dense1")].r_network_job == os.path.join(
        "r_networks", "dense1", "run_number_1"
    )
    assert by_key[_key("ppo", 1, "verysparse")].r_network_job is None
    assert len(jobs) == 6 + 2 * 5 * 2
    pretrained = sweep.plan(sweep.make_spec(["ppo_plus_ec"], ["sparse"], runs=1, r_networks_path="/nets"))
    assert [job.kind for job in pretrained] == ["run"]


def test_a_rerun_skips_done_runs_without_starting_ray(tmp_path, no_ray):
    workdir = tmp_path / "sweep"
    spec = sweep.make_spec(["ppo", "ppo_plus_ec"], ["fake"], runs=2)
    jobs = sweep.plan(spec)
    assert len(jobs) == 6  # 2 R-network jobs, 4 runs
    for job in jobs:
        (workdir / job.relative_dir).mkdir(parents=True)
        (workdir / job.relative_dir / sweep.DONE_FILE).write_text(json.dumps({"steps": 64, "attempts": 2}))
    stamps = {job.key: os.path.getmtime(workdir / job.relative_dir / sweep.DONE_FILE) for job in jobs}
    start = time.time()
    result = sweep.run_sweep(spec, str(workdir), address="127.0.0.1:1", make_report=False)
    assert time.time() - start < 20  # no Ray contacted (the address is unreachable), no launcher
    assert result["skipped"] == sorted(job.key for job in jobs)
    assert not result["done"] and not result["failed"] and not result["results"]
    assert result["states"][_key("ppo", 2)] == {"state": "skipped", "steps": 64, "attempt": 2}
    assert {job.key: os.path.getmtime(workdir / job.relative_dir / sweep.DONE_FILE) for job in jobs} == stamps
    assert not any((workdir / job.relative_dir / sweep.LOG_FILE).exists() for job in jobs)


def test_only_unfinished_jobs_run_and_progress_is_reported(tmp_path, ray_session, monkeypatch, caplog):
    """Stand-in launchers (print their outputs, log steps, take a second) for the unfinished runs."""
    workdir = tmp_path / "sweep"
    done_before = workdir / _key("ppo", 1)
    done_before.mkdir(parents=True)
    (done_before / sweep.DONE_FILE).write_text(json.dumps({"steps": 7, "attempts": 1}))
    code = (
        "import os, sys, time\n"
        "run_dir = sys.argv[1]\n"
        "os.makedirs(run_dir, exist_ok=True)\n"
        "time.sleep(1.5)\n"
        "open(os.path.join(run_dir, 'reward_train.csv'), 'w').write('step,reward,timestamp_s\\n32,1.0,0\\n')\n"
        "print('run_dir: ' + run_dir)\n"
    )
    started = []

    def stand_in(job, spec, workdir_):
        started.append(job.key)
        return ["-c", code, os.path.join(workdir_, job.relative_dir)]

    monkeypatch.setattr(sweep, "launcher_args", stand_in)
    caplog.set_level(logging.INFO)
    result = sweep.run_sweep(
        _spec(["ppo"], runs=3), str(workdir), cpus_per_run=1, report_every_s=0.5, make_report=False
    )
    assert started == [_key("ppo", 2), _key("ppo", 3)]
    assert result["skipped"] == [_key("ppo", 1)] and result["done"] == started and not result["failed"]
    for key in started:
        done = json.loads((workdir / key / sweep.DONE_FILE).read_text())
        assert done["attempts"] == 1 and done["steps"] == 32
        assert done["outputs"] == {"run_dir": str(workdir / key)}
        assert done["command"][0] == sys.executable and done["command"][1:3] == ["-c", code]
        assert result["states"][key] == {"state": "done", "steps": 32, "attempt": 1}
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Sweep progress")]
    assert progress and any(" running " in message for message in progress), progress
    assert "skipped 1" in progress[0]


def test_a_job_that_keeps_failing_is_reported_and_its_runs_never_start(tmp_path, ray_session, monkeypatch):
    workdir = tmp_path / "sweep"
    monkeypatch.setattr(
        sweep, "launcher_args", lambda job, spec, workdir_: ["-c", "import sys; print('broken'); sys.exit(3)"]
    )
    result = sweep.run_sweep(
        _spec(["ppo_plus_ec"], runs=1),
        str(workdir),
        cpus_per_run=1,
        max_attempts=2,
        report_every_s=5,
        make_report=False,
    )
    r_key = os.path.join("r_networks", "fake", "run_number_1")
    run_key = _key("ppo_plus_ec")
    assert result["failed"] == sorted([r_key, run_key]) and not result["done"]
    r_result = result["results"][r_key]
    assert r_result["attempts"] == 2  # Ray retried it once, then gave up
    assert "LauncherFailed: launcher exited with 3 (attempt 2" in r_result["error"]
    assert result["results"][run_key]["error"] == f"its R-network job {r_key} failed"
    log = (workdir / r_key / sweep.LOG_FILE).read_text()
    assert log.count("\nbroken\n") == 2 and "attempt 2 exited with 3" in log
    events = sweep.read_events(str(workdir / r_key))
    assert [(e["event"], e["attempt"]) for e in events] == [("start", 1), ("exit", 1), ("start", 2), ("exit", 2)]
    assert not (workdir / r_key / sweep.DONE_FILE).exists() and not (workdir / run_key).exists()


def test_a_killed_launcher_is_retried_by_ray_and_resumes_and_a_rerun_does_nothing(tmp_path, ray_session, monkeypatch):
    workdir = str(tmp_path / "sweep")
    key = _key("ppo")
    flaky = tmp_path / "flaky_launcher.py"
    flaky.write_text(FLAKY_LAUNCHER)
    real_launcher_args = sweep.launcher_args
    monkeypatch.setattr(
        sweep,
        "launcher_args",
        lambda job, spec, workdir_: [
            str(flaky),
            str(tmp_path / "attempted"),
            os.path.join(workdir_, job.relative_dir),
            *real_launcher_args(job, spec, workdir_),
        ],
    )
    result = sweep.run_sweep(_spec(["ppo"], runs=1), workdir, cpus_per_run=1, report_every_s=5)
    assert result["done"] == [key] and not result["failed"] and not result["skipped"], result["results"]
    run_dir = os.path.join(workdir, key)
    done = json.load(open(os.path.join(run_dir, sweep.DONE_FILE)))
    assert done["attempts"] == 2 and done["steps"] == 13 * 16 and done["outputs"]["run_dir"] == run_dir
    steps = [row[0] for row in metrics_csv.read_scalars(os.path.join(run_dir, "reward_train.csv"))]
    assert steps == [16 * u for u in range(1, 14)]  # no row twice, none missing
    assert os.path.exists(os.path.join(run_dir, "checkpoints", "policy.00013.h5"))
    log = open(os.path.join(run_dir, sweep.LOG_FILE)).read()
    assert "killed the launcher after its first checkpoint" in log
    assert "attempt 1 exited with 1" in log and "attempt 2 exited with 0" in log
    assert "Resuming from" in log.split(": attempt 2 on ")[1]  # the retry continued the checkpoint
    assert result["states"][key] == {"state": "done", "steps": 208, "attempt": 2}
    if result["report"] is not None:  # plot_training.report may be unable to plot here
        assert os.path.isfile(os.path.join(workdir, "summary", "summary.md"))

    stamp = os.path.getmtime(os.path.join(run_dir, sweep.DONE_FILE))
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda *args, **kwargs: pytest.fail("Ray was started"))
    again = sweep.run_sweep(_spec(["ppo"], runs=1), workdir, address="127.0.0.1:1")
    assert again["skipped"] == [key] and not again["done"] and not again["results"]
    assert os.path.getmtime(os.path.join(run_dir, sweep.DONE_FILE)) == stamp


def test_shared_r_network_job_runs_before_the_run_that_uses_it(tmp_path, ray_session):
    workdir = tmp_path / "sweep"
    result = sweep.run_sweep(
        _spec(["ppo_plus_ec"], runs=1), str(workdir), cpus_per_run=1, report_every_s=5, make_report=False
    )
    r_key = os.path.join("r_networks", "fake", "run_number_1")
    run_key = _key("ppo_plus_ec")
    assert result["done"] == sorted([r_key, run_key]), result["results"]
    r_checkpoint = workdir / r_key / "r_networks" / "r_network_weights.00002.h5"
    assert r_checkpoint.is_file()
    assert json.loads((workdir / r_key / sweep.DONE_FILE).read_text())["outputs"]["r_checkpoint"] == str(r_checkpoint)
    done = json.loads((workdir / run_key / sweep.DONE_FILE).read_text())
    assert f"--r_networks_path={workdir / r_key / 'r_networks'}" in done["command"]
    assert (workdir / run_key / "reward_train.csv").is_file()
    assert not (workdir / run_key / "r_training_data").exists()  # the policy run trained no R-net
    r_finished = json.loads((workdir / r_key / sweep.DONE_FILE).read_text())["finished_at"]
    run_started = next(e for e in sweep.read_events(str(workdir / run_key)) if e["event"] == "start")["time"]
    assert r_finished <= run_started


def test_script_reports_a_bad_spec_without_starting_ray(tmp_path):
    start = time.time()
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO_ROOT, "scripts", "launch_sweep.py"),
            f"--workdir={tmp_path}",
            "--methods=ppo",
            "--scenarios=fake",
            "--runs=0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        check=False,
    )
    assert result.returncode == 2 and "runs must be >= 1, got 0" in result.stderr
    assert time.time() - start < 60 and not os.listdir(tmp_path)


def test_a_run_larger_than_the_local_ray_is_refused(tmp_path, ray_session):
    with pytest.raises(sweep.SweepSpecError, match="asks for 64 CPUs"):
        sweep.run_sweep(_spec(["ppo"], runs=1), str(tmp_path), cpus_per_run=64)
    assert not (tmp_path / "ppo").exists()


def test_runs_and_their_r_network_jobs_get_distinct_recorded_seeds(tmp_path):
    """Run n of a sweep gets seed `seed + n - 1` (default 0: the launcher's run number - 1), and
    the R-network job serving it the same one."""
    spec = sweep.make_spec(["ppo_plus_ec"], ["vizdoom_sparse"], runs=[1, 3], seed=5)
    commands = {(job.kind, job.run_number): sweep.launcher_args(job, spec, str(tmp_path)) for job in sweep.plan(spec)}
    assert "--seed=5" in commands[("run", 1)] and "--seed=7" in commands[("run", 3)]
    assert "--seed=7" in commands[("r_network", 3)]
    assert commands[("run", 3)][:2] == ["-m", "episodic_curiosity.launcher"]
    assert commands[("r_network", 3)][:2] == ["-m", "episodic_curiosity.sweep"]
    r_networks = os.path.join(str(tmp_path), "r_networks", "vizdoom_sparse", "run_number_3", "r_networks")
    assert f"--r_networks_path={r_networks}" in commands[("run", 3)]
    default = sweep.make_spec(["ppo"], ["vizdoom_sparse"], runs=2)
    assert [default.seed_of(n) for n in (1, 2)] == [0, 1]
    with pytest.raises(sweep.SweepSpecError, match="seed"):
        sweep.make_spec(["ppo"], ["vizdoom_sparse"], seed=-1)
