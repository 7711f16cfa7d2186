"""Curiosity-reward videos (visualize_curiosity_reward) on the fake env with a tiny R-network."""

import csv
import os
import subprocess
import sys

import gin
import gymnasium as gym
import numpy as np
import pytest

from episodic_curiosity import checkpoint_io
from episodic_curiosity import ppo
from episodic_curiosity import r_network
from episodic_curiosity import visualize_curiosity_reward as viz

imageio = pytest.importorskip("imageio.v2")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE_WEIGHTS = os.path.join(
    REPO_ROOT, "..", "shared", "fixtures", "original_r_network", "r_network_weights.00002.h5"
)
TINY_R_NETWORK = [
    "build_embedding_network.stage_filters=(4, 4, 4, 4)",
    "build_embedding_network.embedding_size=8",
    "build_comparator_network.hidden_units=8",
]
FAKE_EPISODE_LENGTH = 20  # the registry's default for 'fake'


@pytest.fixture
def tiny_r_net():
    gin.clear_config()
    gin.parse_config(TINY_R_NETWORK + ["EpisodicMemory.capacity=6"])
    yield r_network.RNetwork()
    gin.clear_config()


def _read_video(path):
    reader = imageio.get_reader(path)
    try:
        return [frame for frame in reader]
    finally:
        reader.close()


def _read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def _history(bonuses, task_rewards=None, sizes=None, capacity=4):
    task_rewards = task_rewards or [0.0] * len(bonuses)
    sizes = sizes or list(range(1, len(bonuses) + 1))
    return viz.EpisodeHistory(
        actions=[0] * len(bonuses),
        bonuses=list(bonuses),
        task_rewards=task_rewards,
        memory_sizes=sizes,
        memory_capacity=capacity,
    )


def test_compose_frame_layout_and_bonus_bar():
    frame = np.full((120, 160, 3), 77, np.uint8)
    positive = viz.compose_frame(frame, _history([0.5, 0.2]), total_steps=10)
    assert positive.shape == (240, 640, 3) and positive.dtype == np.uint8
    np.testing.assert_array_equal(positive[2, 100], viz._GREEN)
    np.testing.assert_array_equal(positive[120, 100], [77, 77, 77])  # the view, scaled 2x
    negative = viz.compose_frame(frame, _history([0.5, -0.1]), total_steps=10)
    np.testing.assert_array_equal(negative[2, 100], viz._RED)
    assert not np.array_equal(positive[:, 320:], negative[:, 320:])  # the curves/text differ
    with_memory = viz.compose_frame(frame, _history([0.1]), 10, thumbnails=[frame, None, None, None])
    assert with_memory.shape == (480, 640, 3)
    with pytest.raises(ValueError, match="RGB"):
        viz.compose_frame(np.zeros((4, 4), np.uint8), _history([0.1]), 10)


def test_memory_panel_shows_slots_and_frames_the_newest():
    red, blue = (np.full((30, 40, 3), c, np.uint8) for c in ((200, 0, 0), (0, 0, 200)))
    panel = viz.memory_panel([red, None, blue], newest_slot=2, frame_shape=(30, 40, 3))
    columns, width, height = viz.thumbnail_layout(3, (30, 40, 3))
    assert columns >= 3 and panel.shape == (240, 640, 3)
    center = lambda slot: panel[height // 2, slot * width + width // 2]
    np.testing.assert_array_equal(center(0), (200, 0, 0))
    np.testing.assert_array_equal(center(1), (40, 40, 40))  # empty slot
    np.testing.assert_array_equal(center(2), (0, 0, 200))
    np.testing.assert_array_equal(panel[0, 2 * width + 1], viz._YELLOW)  # newest slot framed
    for capacity, shape in ((200, (120, 160, 3)), (1000, (64, 64, 3)), (1, (120, 160, 3))):
        columns, width, height = viz.thumbnail_layout(capacity, shape)
        rows = -(-capacity // columns)
        assert columns * width <= 640 and rows * height <= 240 and width >= 3


def test_do_nothing_action():
    assert viz.do_nothing_action(gym.spaces.Discrete(4)) == 0
    box = viz.do_nothing_action(gym.spaces.Box(-1, 1, (8,), np.float32))
    assert box.shape == (8,) and box.dtype == np.float32 and not box.any()


def test_video_has_one_frame_per_step_and_stops_at_episode_end(tiny_r_net, tmp_path):
    paths = viz.visualize(
        str(tmp_path / "a"),
        "fake",
        tiny_r_net,
        num_episodes=2,
        num_steps=12,
        visualization_type="memory",
        trajectory_mode="random",
        seed=5,
        fps=10,
    )
    names = [os.path.basename(p) for p in paths]
    assert names == [f"memory_{i}.{extension}" for i in (0, 1) for extension in ("mp4", "gif", "csv")]
    frames = _read_video(paths[0])
    assert len(frames) == 12 and frames[0].shape == (480, 640, 3)
    gif = _read_video(paths[1])
    assert len(gif) == 12 and gif[0].shape[:2] == (240, 320)
    rows = _read_csv(paths[2])
    assert [int(r["step"]) for r in rows] == list(range(12))
    sizes = [int(r["memory_size"]) for r in rows]
    assert sizes[0] == 1 and max(sizes) <= 6 and sizes == sorted(sizes)  # capacity 6 from gin
    assert float(rows[0]["curiosity_bonus"]) == pytest.approx(0.5)  # empty memory: beta - 0

    longer = viz.visualize(
        str(tmp_path / "b"),
        "fake",
        tiny_r_net,
        num_episodes=1,
        num_steps=50,
        trajectory_mode="do_nothing",
        write_gif=False,
    )
    assert [os.path.basename(p) for p in longer] == ["surrogate_reward_0.mp4", "surrogate_reward_0.csv"]
    frames = _read_video(longer[0])
    assert len(frames) == FAKE_EPISODE_LENGTH and frames[0].shape == (240, 640, 3)
    rows = _read_csv(longer[1])
    assert {r["action"] for r in rows} == {"0"}
    assert float(rows[-1]["curiosity_bonus"]) == 0.0  # an episode's last step has no bonus


def test_policy_mode_loads_the_newest_checkpoint(tiny_r_net, tmp_path):
    observation_space = gym.spaces.Box(0, 255, (84, 84, 3), np.uint8)  # the wrapper's policy input
    policy = ppo.ActorCritic("cnn", observation_space, gym.spaces.Discrete(4), seed=1)
    run_dir = tmp_path / "run"
    checkpoint_io.save_variables(
        str(run_dir / "checkpoints" / "policy.00003.h5"),
        {"policy": policy.trainable_variables},
        {"policy_architecture": "cnn"},
    )
    paths = viz.visualize(
        str(tmp_path / "out"),
        "fake",
        tiny_r_net,
        policy=str(run_dir),
        num_episodes=1,
        num_steps=6,
        trajectory_mode="policy",
        write_gif=False,
    )
    assert len(_read_video(paths[0])) == 6
    assert {int(r["action"]) for r in _read_csv(paths[1])} <= {0, 1, 2, 3}
    same = viz.visualize(
        str(tmp_path / "out2"),
        "fake",
        tiny_r_net,
        policy=policy,
        num_episodes=1,
        num_steps=6,
        trajectory_mode="policy",
        write_gif=False,
    )
    assert len(_read_video(same[0])) == 6
    with pytest.raises(FileNotFoundError, match="no policy checkpoint"):
        viz.visualize(
            str(tmp_path / "out3"),
            "fake",
            tiny_r_net,
            policy=str(tmp_path / "out"),
            num_steps=2,
            trajectory_mode="policy",
        )


def test_bad_arguments_are_named(tiny_r_net, tmp_path):
    with pytest.raises(ValueError) as error:
        viz.visualize(
            str(tmp_path), "fake", tiny_r_net, num_steps=0, visualization_type="map", trajectory_mode="policy"
        )
    message = str(error.value)
    assert "visualization_type" in message and "needs a policy" in message and "num_steps" in message
    assert not os.listdir(tmp_path)


def test_entry_point_with_a_random_tiny_r_network(tmp_path):
    workdir = tmp_path / "viz"
    command = [
        sys.executable,
        "-m",
        "episodic_curiosity.visualize_curiosity_reward",
        f"--workdir={workdir}",
        "--scenario=fake",
        "--num_episodes=1",
        "--num_steps=7",
        "--visualization_type=memory",
        "--trajectory_mode=random",
        "--nogif",
        "--gin_bindings=EpisodicMemory.capacity=10",
    ]
    command += [f"--gin_bindings={binding}" for binding in TINY_R_NETWORK]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(workdir)) == ["flags.txt", "memory_0.csv", "memory_0.mp4", "visualize.gin"]
    assert str(workdir / "memory_0.mp4") in result.stdout
    frames = _read_video(str(workdir / "memory_0.mp4"))
    assert len(frames) == 7 and frames[0].shape == (480, 640, 3)
    with open(workdir / "visualize.gin") as f:
        assert "EpisodicMemory.capacity = 10" in f.read()
    usage = subprocess.run(
        command[:3] + ["--trajectory_mode=policy"], capture_output=True, text=True, timeout=300, check=False
    )
    assert usage.returncode != 0 and "--policy_path" in usage.stderr


@pytest.mark.vizdoom
@pytest.mark.skipif(not os.path.exists(FIXTURE_WEIGHTS), reason="../shared fixtures absent")
def test_vizdoom_with_the_original_r_network(tmp_path):
    pytest.importorskip("vizdoom")
    r_net = r_network.RNetwork(weights_path=FIXTURE_WEIGHTS)
    paths = viz.visualize(
        str(tmp_path), "vizdoom_sparse", r_net, num_episodes=1, num_steps=5, trajectory_mode="random", write_gif=False
    )
    frames = _read_video(paths[0])
    assert len(frames) == 5 and frames[0].shape == (240, 640, 3)
    assert frames[-1][20:, :320].std() > 5  # the first-person view is not blank
