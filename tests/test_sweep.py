"""Ray sweeps: spec errors before Ray, R-network sharing, retries that resume, skipping, URIs."""

import json
import os
import subprocess
import sys
import time

import pytest

ray = pytest.importorskip("ray")

from episodic_curiosity import metrics_csv  # pylint: disable=wrong-import-position
from episodic_curiosity import sweep  # pylint: disable=wrong-import-position

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ("train_policy.env_kwargs = {'episode_length': 8}",
        "generate_r_training_data.env_kwargs = {'episode_length': 60}",
        "PPOConfig.nsteps = 8", "PPOConfig.nminibatches = 2", "PPOConfig.noptepochs = 1",
        "train_r.num_epochs = 2", "train_r.steps_per_epoch = 3", "train_r.validation_steps = 1",
        "train_r.batch_size = 8", "train_r.checkpoint_every_epochs = 1",
        "build_embedding_network.stage_filters = (4, 8, 8, 8)",
        "build_embedding_network.embedding_size = 16", "build_comparator_network.hidden_units = 16")
# 13 updates of 2 envs x 8 steps: checkpoints at updates 1, 10 and 13.
NUM_TIMESTEPS = 200


def _spec(methods, runs=2):
    return sweep.make_spec(methods, ["fake"], runs=runs, scale="smoke", gin_bindings=TINY,
                           num_timesteps=NUM_TIMESTEPS, num_env=2)


@pytest.fixture(scope="module")
def ray_session():
    """One small local Ray for the module's sweeps (run_sweep uses an initialized session)."""
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def no_ray(monkeypatch):
    """Fails the test if a sweep tries to start Ray."""
    def refuse(*args, **kwargs):
        raise AssertionError("Ray was started")
    monkeypatch.setattr(ray, "init", refuse)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)


@pytest.mark.parametrize("kwargs, message", [
    (dict(methods=["ppo", "ppo_plus_magic"], scenarios=["fake"]), "unknown method 'ppo_plus_magic'"),
    (dict(methods=["ppo"], scenarios=["fake", "nowhere"]), "unknown scenario 'nowhere'"),
    (dict(methods=["ppo"], scenarios=["fake"], scale="huge"), "unknown scale 'huge'"),
])
def test_unknown_names_fail_before_ray(kwargs, message, tmp_path, no_ray):
    with pytest.raises(sweep.SweepSpecError, match=message):
        sweep.run_sweep(sweep.make_spec(**kwargs), str(tmp_path))
    assert not os.listdir(tmp_path)


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
    (tmp_path / "good.yaml").write_text("methods: [ppo, ppo_plus_ec]\nscenarios: fake\nruns: [2, 5]\n"
                                        "scale: smoke\ngin_bindings: ['PPOConfig.nsteps = 8']\n")
    spec = sweep.make_spec(**sweep.load_sweep_file(str(tmp_path / "good.yaml")))
    assert spec.methods == ("ppo", "ppo_plus_ec") and spec.scenarios == ("fake",) and spec.runs == (2, 5)
    assert spec.scale == "smoke" and spec.gin_bindings == ("PPOConfig.nsteps = 8",)


def test_plan_trains_one_r_network_per_level_and_run():
    spec = sweep.make_spec(["ppo", "ppo_plus_ec"], ["sparse", "verysparse", "noreward", "dense1", "fake"],
                           runs=2)
    jobs = sweep.plan(spec)
    r_jobs = [job for job in jobs if job.kind == "r_network"]
    assert [job.key for job in r_jobs] == [os.path.join("r_networks", s, f"run_number_{n}")
                                           for s, n in (("sparse", 1), ("sparse", 2), ("dense1", 1),
                                                        ("dense1", 2), ("fake", 1), ("fake", 2))]
    assert jobs[:len(r_jobs)] == r_jobs  # before the runs that wait for them
    by_key = {job.key: job for job in jobs}
    assert by_key[os.path.join("ppo_plus_ec", "verysparse", "run_number_2")].r_network_job == os.path.join(
        "r_networks", "sparse", "run_number_2")
    assert by_key[os.path.join("ppo_plus_ec", "noreward", "run_number_1")].r_network_job == os.path.join(
        "r_networks", "sparse", "run_number_1")
    assert by_key[os.path.join("ppo_plus_ec", "dense1", "run_number_1")].r_network_job == os.path.join(
        "r_networks", "dense1", "run_number_1")
    assert by_key[os.path.join("ppo", "verysparse", "run_number_1")].r_network_job is None
    assert len(jobs) == 6 + 2 * 5 * 2
    pretrained = sweep.plan(sweep.make_spec(["ppo_plus_ec"], ["sparse"], runs=1, r_networks_path="/nets"))
    assert [job.kind for job in pretrained] == ["run"]


def test_sweep_retries_a_killed_run_which_resumes_and_a_rerun_does_nothing(tmp_path, ray_session):
    workdir = str(tmp_path / "sweep")
    killed = os.path.join("ppo", "fake", "run_number_1")
    result = sweep.run_sweep(_spec(["ppo", "ppo_plus_grid_oracle"]), workdir, cpus_per_run=1, poll_s=0.1,
                             report_every_s=5, kill_after_first_checkpoint=[killed])
    keys = [os.path.join(m, "fake", f"run_number_{n}") for m in ("ppo", "ppo_plus_grid_oracle")
            for n in (1, 2)]
    assert result["done"] == sorted(keys) and not result["failed"] and not result["skipped"]
    for key in keys:
        run_dir = os.path.join(workdir, key)
        done = json.load(open(os.path.join(run_dir, sweep.DONE_FILE)))
        assert done["attempts"] == (2 if key == killed else 1), key
        assert done["steps"] == 13 * 16 and done["outputs"]["run_dir"] == run_dir
        steps = [row[0] for row in metrics_csv.read_scalars(os.path.join(run_dir, "reward_train.csv"))]
        assert steps == [16 * u for u in range(1, 14)], key  # no row twice, none missing
        assert os.path.exists(os.path.join(run_dir, "checkpoints", "policy.00013.h5"))
    log = open(os.path.join(workdir, killed, sweep.LOG_FILE)).read()
    assert "attempt 1 exited with -9" in log and "attempt 2 exited with 0" in log
    assert "Resuming from" in log.split("attempt 2 (total 2)")[1]  # the retry continued the checkpoint
    assert result["states"][killed] == {"state": "done", "steps": 208, "attempt": 2}
    if result["report"] is not None:  # plot_training.report (issue #9) may not be merged yet
        assert os.path.isfile(os.path.join(workdir, "summary", "summary.md"))

    stamps = {key: os.path.getmtime(os.path.join(workdir, key, sweep.DONE_FILE)) for key in keys}
    start = time.time()
    again = sweep.run_sweep(_spec(["ppo", "ppo_plus_grid_oracle"]), workdir, address="127.0.0.1:1")
    assert time.time() - start < 20  # no Ray contacted (the address is unreachable), no launcher
    assert again["skipped"] == sorted(keys) and not again["done"] and not again["results"]
    assert {key: os.path.getmtime(os.path.join(workdir, key, sweep.DONE_FILE)) for key in keys} == stamps


def test_file_uri_workdir_with_shared_r_network_job(tmp_path, ray_session):
    destination = tmp_path / "bucket"
    staging = tmp_path / "staging"
    result = sweep.run_sweep(_spec(["ppo_plus_ec"], runs=1), f"file://{destination}",
                             staging_dir=str(staging), cpus_per_run=1, poll_s=0.2, report_every_s=5,
                             make_report=False)
    r_key = os.path.join("r_networks", "fake", "run_number_1")
    run_key = os.path.join("ppo_plus_ec", "fake", "run_number_1")
    assert result["done"] == sorted([r_key, run_key]), result["results"]
    r_net = destination / r_key / "r_networks" / "r_network_weights.00002.h5"
    assert r_net.is_file()  # copied to the URI
    done = json.loads((destination / run_key / sweep.DONE_FILE).read_text())
    r_checkpoint = staging / r_key / "r_networks" / "r_network_weights.00002.h5"
    assert done["outputs"]["r_checkpoint"] == str(r_checkpoint)
    assert any(f"--r_networks_path={staging / r_key / 'r_networks'}" == arg for arg in done["command"])
    assert (destination / run_key / "reward_train.csv").is_file()
    assert (destination / run_key / sweep.LOG_FILE).is_file()
    assert not (destination / run_key / "r_training_data").exists()  # the policy run trained no R-net
    again = sweep.run_sweep(_spec(["ppo_plus_ec"], runs=1), f"file://{destination}",
                            staging_dir=str(tmp_path / "elsewhere"), make_report=False)
    assert again["skipped"] == sorted([r_key, run_key]) and not again["results"]


def test_script_reports_a_bad_spec_without_starting_ray(tmp_path):
    start = time.time()
    result = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "scripts", "launch_sweep.py"),
                             f"--workdir={tmp_path}", "--methods=ppo", "--scenarios=fake", "--runs=0"],
                            capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, check=False)
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
    settings = sweep.ExecutionSettings(workdir=str(tmp_path), staging_dir=None, spec=spec, sweep_id="t",
                                       max_attempts=1, sync_period_s=60.0)
    commands = {(job.kind, job.run_number): sweep.launcher_command(job, settings, str(tmp_path), None)
                for job in sweep.plan(spec)}
    assert "--seed=5" in commands[("run", 1)] and "--seed=7" in commands[("run", 3)]
    assert "--seed=7" in commands[("r_network", 3)]
    default = sweep.make_spec(["ppo"], ["vizdoom_sparse"], runs=2)
    assert [default.seed_of(n) for n in (1, 2)] == [0, 1]
    with pytest.raises(sweep.SweepSpecError, match="seed"):
        sweep.make_spec(["ppo"], ["vizdoom_sparse"], seed=-1)
