r"""The `make demo` job: PPO+EC on VizDoom at smoke scale, end to end, in a few minutes.

`--mode=pipeline` (default) runs the launcher (`ppo_plus_ec`, `vizdoom_sparse`, `--scale=smoke`)
into `<output_dir>/`: R-network training data for both splits, `train_r`, `train_policy` with
the trained R-network, then an evaluation of the final policy on the test seeds and a PNG of the
reward curves with the curiosity bonus and the memory fill under them, and prints where every
artifact is. Rerunning continues / skips finished stages. Where the package ships the trained
laptop-scale models (`pretrained:vizdoom_sparse_ppo_plus_ec` and `pretrained:vizdoom`), the
demo then evaluates that policy on `vizdoom_sparse`'s test seeds and writes a curiosity-reward
video of it (`pretrained_policy/`: MP4, GIF, per-step CSV); without them it says so.

`--mode=rollout` only renders a random walk (forward until a wall, then a random turn):

  * `<scenario>_frames.png`: a contact sheet of evenly spaced first-person frames;
  * `<scenario>_rollout.gif`: the whole rollout, if `imageio` is installed (extra `video`);
  * `<scenario>_trajectory.csv`: step, action, reward, x, y, angle per step.

    python -m episodic_curiosity.demo --output_dir demo_output [--mode rollout]
"""

from __future__ import annotations

import csv
import os

from absl import flags
from absl import logging
import cv2
import numpy as np

from episodic_curiosity import atomic_files
from episodic_curiosity import environments
from episodic_curiosity import video

_OUTPUT_DIR = flags.DEFINE_string("output_dir", "demo_output", "Where the images are written.")
_SCENARIO = flags.DEFINE_string("scenario", "vizdoom_sparse", "Registered scenario name.")
_NUM_STEPS = flags.DEFINE_integer("num_steps", 200, "Agent steps to roll out.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the env and of the random policy.")
_MODE = flags.DEFINE_enum("mode", "pipeline", ["pipeline", "rollout"], "What the demo runs.")


class WallAvoidingWalk:
    """A random explorer: walks forward, and after bumping into a wall turns a random amount.

    Uses only `info['position']` (a bump = a forward step that moved less than `min_move`).
    """

    def __init__(self, rng: np.random.Generator, min_move: float = 1.0, max_turn_steps: int = 12):
        self._rng = rng
        self._min_move = min_move
        self._max_turn_steps = max_turn_steps
        self._pending_turns: list[int] = []
        self._last_action = 0
        self._last_position = None

    def act(self, position: np.ndarray) -> int:
        """Returns the next action (0 no-op, 1 forward, 2 left, 3 right) given the position."""
        position = np.asarray(position, np.float64)
        bumped = (
            self._last_action == 1
            and self._last_position is not None
            and np.linalg.norm(position[:2] - self._last_position[:2]) < self._min_move
        )
        if bumped or (not self._pending_turns and self._rng.random() < 0.03):
            turn = int(self._rng.choice([2, 3]))
            self._pending_turns = [turn] * int(self._rng.integers(3, self._max_turn_steps + 1))
        action = self._pending_turns.pop() if self._pending_turns else 1
        self._last_action, self._last_position = action, position
        return action


def contact_sheet(frames: list[np.ndarray], columns: int = 4, rows: int = 3) -> np.ndarray:
    """Tiles up to `columns * rows` evenly spaced frames into one RGB image."""
    if not frames:
        raise ValueError("no frames to tile")
    count = min(len(frames), columns * rows)
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    height, width, _ = frames[0].shape
    sheet = np.zeros((rows * height, columns * width, 3), np.uint8)
    for slot, index in enumerate(picks):
        row, column = divmod(slot, columns)
        sheet[row * height : (row + 1) * height, column * width : (column + 1) * width] = frames[index]
    return sheet


def run_demo(output_dir: str, scenario: str = "vizdoom_sparse", num_steps: int = 200, seed: int = 0) -> dict[str, str]:
    """Rolls out a random walk in `scenario` and writes the images; returns their paths."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    env = environments.make_env(scenario, seed=seed)
    try:
        observation, info = env.reset()
        frames = [observation]
        rows = []
        walker = WallAvoidingWalk(np.random.default_rng(seed))
        for step in range(num_steps):
            action = walker.act(info["position"])
            observation, reward, terminated, truncated, info = env.step(action)
            frames.append(observation)
            x, y, _ = info["position"]
            rows.append((step, action, reward, x, y, info.get("angle", 0.0)))
            if terminated or truncated:
                break
    finally:
        env.close()

    os.makedirs(output_dir, exist_ok=True)
    outputs = {}
    sheet_path = os.path.join(output_dir, f"{scenario}_frames.png")
    sheet_bgr = cv2.cvtColor(contact_sheet(frames), cv2.COLOR_RGB2BGR)
    with atomic_files.atomic_path(sheet_path) as tmp_path:
        if not cv2.imwrite(tmp_path, sheet_bgr):
            raise OSError(f"could not write {sheet_path}")
    outputs["frames_png"] = sheet_path

    csv_path = os.path.join(output_dir, f"{scenario}_trajectory.csv")

    with atomic_files.atomic_path(csv_path) as tmp_path:
        with open(tmp_path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["step", "action", "reward", "x", "y", "angle"])
            writer.writerows(rows)
    outputs["trajectory_csv"] = csv_path

    gif_path = os.path.join(output_dir, f"{scenario}_rollout.gif")
    try:
        video.write_gif(gif_path, frames, fps=15)
    except ImportError as e:
        logging.warning("%s: skipping the GIF.", e)
    else:
        outputs["rollout_gif"] = gif_path
    return outputs


def run_pipeline_demo(
    output_dir: str,
    scenario: str = "vizdoom_sparse",
    gin_bindings=(),
    num_timesteps: int | None = None,
    num_env: int | None = None,
    eval_episodes: int = 8,
    asynchronous: bool = True,
) -> dict[str, str]:
    """PPO+EC smoke run via the launcher, evaluation and reward plot; returns artifact paths."""
    from episodic_curiosity import eval_policy  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import launcher  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import plot_training  # pylint: disable=g-import-not-at-top

    outputs = launcher.launch(
        output_dir,
        "ppo_plus_ec",
        scenario,
        scale="smoke",
        gin_bindings=gin_bindings,
        num_timesteps=num_timesteps,
        num_env=num_env,
        asynchronous=asynchronous,
    )
    artifacts = {
        "run_dir": outputs["run_dir"],
        "r_network": outputs["r_checkpoint"],
        "policy_checkpoint": outputs["policy_checkpoint"],
    }
    for name in ("train", "valid", "test"):
        artifacts[f"reward_{name}_csv"] = os.path.join(outputs["run_dir"], f"reward_{name}.csv")
    evaluation = eval_policy.eval_policy(
        outputs["policy_checkpoint"],
        scenario,
        split="test",
        num_episodes=eval_episodes,
        num_env=min(4, eval_episodes),
        asynchronous=asynchronous,
        output=os.path.join(outputs["run_dir"], "eval_test.json"),
    )
    artifacts["evaluation_json"] = os.path.join(outputs["run_dir"], "eval_test.json")
    logging.info("Test evaluation: %s", evaluation)
    artifacts["reward_curves_png"] = plot_training.plot_run(
        outputs["run_dir"], os.path.join(output_dir, "reward_curves.png"), title=f"PPO+EC on {scenario} (smoke scale)"
    )
    return artifacts


PRETRAINED_POLICY = "pretrained:vizdoom_sparse_ppo_plus_ec"
PRETRAINED_R_NETWORK = "pretrained:vizdoom"


def run_pretrained_demo(
    output_dir: str,
    scenario: str = "vizdoom_sparse",
    eval_episodes: int = 4,
    video_steps: int = 525,
    asynchronous: bool = True,
) -> dict[str, str]:
    """Evaluates the shipped PPO+EC policy on the test seeds and films one test episode with
    its curiosity bonus; {} (and a log line) where the package does not ship both models."""
    from episodic_curiosity import eval_policy  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import pretrained  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import r_network  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import train_policy  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import visualize_curiosity_reward  # pylint: disable=g-import-not-at-top

    shipped = pretrained.available()
    missing = [
        name for name in (PRETRAINED_POLICY, PRETRAINED_R_NETWORK) if name[len(pretrained.PREFIX) :] not in shipped
    ]
    if missing:
        logging.warning(
            "This package does not ship %s: skipping the trained-policy part of the demo.", ", ".join(missing)
        )
        return {}
    folder = os.path.join(output_dir, "pretrained_policy")
    os.makedirs(folder, exist_ok=True)
    evaluation_path = os.path.join(folder, "eval_test.json")
    evaluation = eval_policy.eval_policy(
        PRETRAINED_POLICY,
        scenario,
        split="test",
        num_episodes=eval_episodes,
        num_env=min(4, eval_episodes),
        asynchronous=asynchronous,
        output=evaluation_path,
    )
    logging.info("Shipped PPO+EC policy on the test seeds of %s: %s", scenario, evaluation)
    paths = visualize_curiosity_reward.visualize(
        folder,
        scenario,
        r_network.RNetwork(weights_path=PRETRAINED_R_NETWORK),
        policy=PRETRAINED_POLICY,
        num_episodes=1,
        num_steps=video_steps,
        trajectory_mode="policy",
        seed=train_policy.split_base_seed("test"),
    )
    artifacts = {"pretrained_evaluation_json": evaluation_path}
    for path in paths:
        artifacts[f"pretrained_video_{os.path.splitext(path)[1][1:]}"] = path
    return artifacts


def main(argv):
    del argv
    from episodic_curiosity import process_control  # pylint: disable=g-import-not-at-top

    process_control.install_stop_handlers()
    if _MODE.value == "pipeline":
        outputs = run_pipeline_demo(_OUTPUT_DIR.value, _SCENARIO.value)
        outputs.update(run_pretrained_demo(_OUTPUT_DIR.value, _SCENARIO.value))
        outputs.update(run_demo(_OUTPUT_DIR.value, _SCENARIO.value, _NUM_STEPS.value, _SEED.value))
    else:
        outputs = run_demo(_OUTPUT_DIR.value, _SCENARIO.value, _NUM_STEPS.value, _SEED.value)
    for kind, path in outputs.items():
        print(f"{kind}: {os.path.abspath(path)}")


def run() -> None:
    """Console script `ec-demo`."""
    from episodic_curiosity import cli  # pylint: disable=g-import-not-at-top

    cli.run(main)


if __name__ == "__main__":
    run()
