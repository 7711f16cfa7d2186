"""`make demo`'s job and the environment benchmark, run as a user would (subprocesses)."""

import csv
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from episodic_curiosity import demo

import tiny_config

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_contact_sheet_tiles_evenly_spaced_frames():
    frames = [np.full((2, 3, 3), i, np.uint8) for i in range(10)]
    sheet = demo.contact_sheet(frames, columns=2, rows=2)
    assert sheet.shape == (4, 6, 3)
    assert [sheet[0, 0, 0], sheet[0, 3, 0], sheet[2, 0, 0], sheet[2, 3, 0]] == [0, 3, 6, 9]
    with pytest.raises(ValueError):
        demo.contact_sheet([])


def test_run_demo_on_fake_env_writes_outputs(tmp_path):
    outputs = demo.run_demo(str(tmp_path / "out"), scenario="fake", num_steps=8, seed=0)
    image = cv2.imread(outputs["frames_png"])
    assert image is not None and image.shape == (3 * 120, 4 * 160, 3)
    with open(outputs["trajectory_csv"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and set(rows[0]) == {"step", "action", "reward", "x", "y", "angle"}


def test_run_demo_rejects_bad_steps(tmp_path):
    with pytest.raises(ValueError, match="num_steps"):
        demo.run_demo(str(tmp_path), scenario="fake", num_steps=0)


@pytest.mark.vizdoom
def test_demo_entry_point_on_vizdoom(tmp_path):
    pytest.importorskip("vizdoom")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    output_dir = cwd / "demo_output"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "episodic_curiosity.demo",
            f"--output_dir={output_dir}",
            "--num_steps=30",
            "--mode=rollout",
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "frames_png:" in result.stdout
    sheet = cv2.imread(str(output_dir / "vizdoom_sparse_frames.png"))
    assert sheet.shape == (360, 640, 3) and sheet.std() > 0
    with open(output_dir / "vizdoom_sparse_trajectory.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 30
    assert float(rows[0]["x"]) >= 239.0  # starts in the far-west room of the sparse variant
    assert sorted(os.listdir(cwd)) == ["demo_output"]  # no engine files in the cwd


def _benchmark_json_lines(script: str, flags: list[str], tmp_path) -> list[dict]:
    """Runs `benchmarks/<script>` in `tmp_path` (also its TMPDIR); returns its JSON lines."""
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "benchmarks", script), *flags],
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


@pytest.mark.vizdoom
def test_env_throughput_benchmark_prints_json(tmp_path):
    pytest.importorskip("vizdoom")
    flags = ["--steps_per_env=20", "--warmup_steps=2", "--num_envs=2"]
    lines = _benchmark_json_lines("env_throughput.py", flags, tmp_path)
    assert [(r["setting"], r["num_envs"], r["agent_steps"]) for r in lines] == [
        ("single", 1, 20),
        ("vector_async", 2, 40),
    ]
    assert all(r["agent_steps_per_s"] > 0 for r in lines)


def test_end_to_end_benchmark_measures_eco(tmp_path):
    """`benchmarks/end_to_end.py` times PPO+ECO (online R-network, history in a temporary folder)."""
    flags = ["--scale=smoke", "--scenario=fake", "--methods=ppo,ppo_plus_eco", "--num_envs=2", "--nsteps=8"]
    lines = _benchmark_json_lines("end_to_end.py", [*flags, "--updates=1", "--noasynchronous"], tmp_path)
    eco = next(r for r in lines if r.get("method") == "ppo_plus_eco")
    assert eco["env_steps_per_s"] > 0 and eco["eco_trainings_timed"] == 0 and eco["curiosity_ms_per_vector_step"] > 0
    assert lines[-1]["ppo_plus_eco_over_ppo"] > 0
    assert not any(name.startswith("end_to_end_eco_") for name in os.listdir(tmp_path))  # history removed


def test_end_to_end_benchmark_times_the_opt_in_bfloat16_policy(tmp_path):
    """`--policy_compute_dtype=bfloat16` builds PPO's policy in bf16 and says so in its JSON line."""
    flags = ["--scale=smoke", "--scenario=fake", "--methods=ppo", "--num_envs=2", "--nsteps=8", "--updates=1"]
    lines = _benchmark_json_lines(
        "end_to_end.py", [*flags, "--noasynchronous", "--policy_compute_dtype=bfloat16"], tmp_path
    )
    ppo_line = next(r for r in lines if r.get("method") == "ppo")
    assert ppo_line["policy_compute_dtype"] == "bfloat16" and ppo_line["env_steps_per_s"] > 0


def test_end_to_end_benchmark_reports_the_processor_time_of_the_learner_and_the_env_workers(tmp_path):
    """Each method's line says how much processor time its work took (this process and the
    subprocess envs apart), how busy the cores were, and the throughput that work allows."""
    flags = ["--scale=smoke", "--scenario=fake", "--methods=env_only,ppo", "--num_envs=2", "--nsteps=200"]
    lines = _benchmark_json_lines("end_to_end.py", [*flags, "--updates=1"], tmp_path)
    by_method = {r["method"]: r for r in lines if "method" in r}
    for method in ("env_only", "ppo"):
        cpu = by_method[method]["cpu_seconds_per_update"]
        assert set(cpu) == {"main", "env_workers"}
        assert cpu["env_workers"] > 0 and cpu["main"] > 0  # the fake env's workers do step
        assert 0 < by_method[method]["cpu_busy_fraction"] <= 1.05
        expected = 200 * 2 * os.cpu_count() / sum(cpu.values())
        assert by_method[method]["cpu_bound_env_steps_per_s"] == pytest.approx(expected, rel=0.05)
        # Measured without waiting: the other jobs' share of the cores, probed just before.
        assert 0 <= by_method[method]["machine_busy_before"] <= 1
        assert by_method[method]["idle_wait_timed_out"] is False
        assert isinstance(by_method[method]["machine_was_busy"], bool) and "cpu_model" in by_method[method]
    ratio = [r for r in lines if r.get("measurement") == "ratio"][0]
    assert ratio["machine_was_busy"] == any(by_method[m]["machine_was_busy"] for m in ("env_only", "ppo"))
    # PPO's learner does much more than stepping random actions in this process.
    assert by_method["ppo"]["cpu_seconds_per_update"]["main"] > by_method["env_only"]["cpu_seconds_per_update"]["main"]


def test_end_to_end_benchmark_counts_the_child_processes_of_env_workers(tmp_path):
    """A VizDoom worker steps its engine in a child process: the workers' processor time
    includes their descendants' (a grandchild that burns ~0.4 s is counted)."""
    script = """
import os, subprocess, sys, time
sys.path.insert(0, os.path.join(sys.argv[1], "benchmarks"))
import end_to_end
burn = "import time; [0 for _ in iter(lambda: time.process_time() < 0.4, False)]; time.sleep(60)"
worker = subprocess.Popen(["sh", "-c", f"{sys.executable} -c '{burn}'; true"])
try:
    deadline = time.time() + 60  # the burn takes ~0.4 s of processor time, more wall on busy cores
    while True:
        time.sleep(0.5)
        tree = end_to_end._process_tree([worker.pid])
        seconds = end_to_end._cpu_seconds([worker.pid])["env_workers"]
        if seconds >= 0.35 or time.time() > deadline:
            break
    print(len(tree), seconds)
finally:
    subprocess.run(["pkill", "-P", str(worker.pid)], check=False)
    worker.kill()
"""
    result = subprocess.run(
        [sys.executable, "-c", script, REPO_ROOT], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    processes, seconds = result.stdout.split()
    assert int(processes) == 2 and float(seconds) >= 0.35


def test_end_to_end_benchmark_tells_a_busy_machine_and_waits_for_an_idle_one(tmp_path):
    """The busy share comes from /proc/stat's counters (not the lagging load average), and
    --wait_for_idle probes until the machine is idle enough or the timeout passes."""
    script = """
import json, os, sys
sys.path.insert(0, os.path.join(sys.argv[1], "benchmarks"))
import end_to_end
stat = os.path.join(sys.argv[2], "stat")
def write(user, idle, iowait):
    with open(stat, "w") as handle:
        handle.write(f"cpu  {user} 0 0 {idle} {iowait} 0 0 0 0 0\\ncpu0 1 2 3 4\\n")
write(100, 900, 0)
def sleep(_):  # 2 s pass: 150 busy and 50 idle/iowait jiffies
    write(250, 920, 30)
busy = end_to_end.machine_busy_fraction(read=lambda: end_to_end._cpu_jiffies(stat), sleep=sleep)
missing = end_to_end.machine_busy_fraction(read=lambda: end_to_end._cpu_jiffies(stat + ".none"), sleep=lambda _: None)
probes, now = iter([0.9, 0.6, 0.05, 0.0]), [0.0]
def probe():
    now[0] += 2.0
    return next(probes)
waited = end_to_end.wait_for_idle(0.1, 600, probe=probe, clock=lambda: now[0])
probes, now = iter([0.9, 0.9, 0.9, 0.9]), [0.0]
timed_out = end_to_end.wait_for_idle(0.1, 5, probe=probe, clock=lambda: now[0])
probes, now = iter([0.9]), [0.0]
no_wait = end_to_end.wait_for_idle(-1, 600, probe=probe, clock=lambda: now[0])
print(json.dumps([busy, missing, waited, timed_out, no_wait]))
"""
    result = subprocess.run(
        [sys.executable, "-c", script, REPO_ROOT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    busy, missing, waited, timed_out, no_wait = json.loads(result.stdout.splitlines()[-1])
    assert busy == pytest.approx(0.75) and missing is None
    assert waited == {
        "machine_busy_before": 0.05,
        "machine_was_busy": False,
        "waited_for_idle_s": 6.0,
        "idle_wait_timed_out": False,
    }
    # A busy machine is said so in the record, not only as a number.
    assert timed_out == {
        "machine_busy_before": 0.9,
        "machine_was_busy": True,
        "waited_for_idle_s": 6.0,
        "idle_wait_timed_out": True,
    }
    assert no_wait == {
        "machine_busy_before": 0.9,
        "machine_was_busy": True,
        "waited_for_idle_s": 2.0,
        "idle_wait_timed_out": False,
    }


@pytest.mark.vizdoom
def test_policy_bf16_benchmark_measures_the_shipped_policys_error_and_both_speeds(tmp_path):
    """`benchmarks/policy_bf16.py` on the shipped policy's own frames: bf16 outputs differ from
    fp32 ones (rounding) by little, and both precisions are timed."""
    pytest.importorskip("vizdoom")
    flags = ["--num_env=2", "--vector_steps=6", "--nsteps=6", "--updates=1", "--step_repeats=2", "--noasynchronous"]
    lines = _benchmark_json_lines("policy_bf16.py", flags, tmp_path)
    error = next(r for r in lines if r.get("measurement") == "fidelity")
    assert error["frames"] == 12
    assert 0 < error["value_abs_diff"]["max"] < 0.1 and 0 < error["action_probability_abs_diff"]["max"] < 0.1
    # bf16 rounding rarely changes the argmax (1 frame of 3,072 measured) and the KL is tiny
    assert error["most_likely_action_differs"] <= 0.25 and 0 <= error["kl_fp32_bf16"]["mean"] < 1e-2
    speeds = [r for r in lines if r.get("measurement") == "speed"]
    assert [r["compute_dtype"] for r in speeds] == ["float32", "bfloat16"]
    assert all(r["ppo_update_s"] > 0 and r["step_ms_at_batch"] > 0 for r in speeds)


def test_wall_avoiding_walk_turns_after_a_bump():
    walker = demo.WallAvoidingWalk(np.random.default_rng(0))
    position = np.zeros(3)
    while walker.act(position) != 1:  # finish any initial random turn
        pass
    moved = position + [5.0, 0.0, 0.0]
    assert walker.act(moved) in (1, 2, 3)
    while walker.act(moved) != 1:
        pass
    turn = walker.act(moved)  # forward did not move: a bump
    assert turn in (2, 3)
    following = [walker.act(moved) for _ in range(2)]
    assert following == [turn, turn]  # keeps turning the same way (at least 3 steps in all)


TINY_PIPELINE = list(tiny_config.TINY_PIPELINE)


@pytest.mark.vizdoom
def test_pipeline_demo_on_vizdoom_in_tiny_sizes(tmp_path):
    pytest.importorskip("vizdoom")
    pytest.importorskip("matplotlib")
    import gin  # pylint: disable=g-import-not-at-top

    try:
        artifacts = demo.run_pipeline_demo(
            str(tmp_path / "demo_output"),
            gin_bindings=TINY_PIPELINE,
            num_timesteps=40,
            num_env=2,
            eval_episodes=2,
            asynchronous=False,
        )
    finally:
        gin.clear_config()
    for key in ("r_network", "policy_checkpoint", "reward_train_csv", "evaluation_json", "reward_curves_png"):
        assert os.path.exists(artifacts[key]), key
    image = cv2.imread(artifacts["reward_curves_png"])
    assert image is not None and image.shape[0] > 100
    with open(artifacts["evaluation_json"]) as f:
        evaluation = json.load(f)
    assert evaluation["episodes"] == 2 and 0.0 <= evaluation["success_rate"] <= 1.0


def test_pretrained_part_skips_without_shipped_models_and_runs_with_them(tmp_path, monkeypatch):
    """The demo's trained-policy part: skipped (with a message) when the package ships no models;
    with shipped ones (here a tiny stand-in pair on the fake env) it evaluates and films."""
    pytest.importorskip("imageio")
    import gin  # pylint: disable=g-import-not-at-top
    import gymnasium as gym  # pylint: disable=g-import-not-at-top

    from episodic_curiosity import checkpoint_io  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import ppo  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import pretrained  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import r_network  # pylint: disable=g-import-not-at-top

    models = tmp_path / "models"
    monkeypatch.setattr(pretrained, "MODELS_DIR", str(models))
    assert demo.run_pretrained_demo(str(tmp_path / "none"), scenario="fake", asynchronous=False) == {}
    policy_dir, r_dir = models / "vizdoom_sparse_ppo_plus_ec", models / "vizdoom"
    policy_dir.mkdir(parents=True)
    r_dir.mkdir()
    space = gym.spaces.Box(0, 255, (42, 42, 4), np.uint8)
    policy = ppo.ActorCritic("cnn_small", space, gym.spaces.Discrete(4), seed=0)
    checkpoint_io.save_variables(
        str(policy_dir / "policy.00001.h5"),
        {"policy": policy.trainable_variables},
        {
            "policy_architecture": "cnn_small",
            "observation_shape": [42, 42, 4],
            "frame_stack": 4,
            "action_space": {"type": "discrete", "n": 4},
        },
    )
    gin.clear_config()
    gin.parse_config(
        [
            "build_embedding_network.stage_filters = (4, 4, 4, 4)",
            "build_embedding_network.embedding_size = 8",
            "build_comparator_network.hidden_units = 8",
            "build_embedding_network.input_pooling = 2",
        ]
    )
    try:
        r_network.RNetwork().save_weights(str(r_dir / "r_network_weights.00001.h5"))
    finally:
        gin.clear_config()
    for folder, weights in ((policy_dir, "policy.00001.h5"), (r_dir, "r_network_weights.00001.h5")):
        (folder / "card.json").write_text(json.dumps({"weights": weights}))
    outputs = demo.run_pretrained_demo(
        str(tmp_path / "out"), scenario="fake", eval_episodes=2, video_steps=6, asynchronous=False
    )
    with open(outputs["pretrained_evaluation_json"]) as handle:
        assert json.load(handle)["episodes"] == 2
    assert os.path.getsize(outputs["pretrained_video_mp4"]) > 0
    with open(outputs["pretrained_video_csv"]) as handle:
        assert len(list(csv.DictReader(handle))) == 6
