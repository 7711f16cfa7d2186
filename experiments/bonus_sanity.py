r"""Experiment 2: does the EC bonus reward new rooms more than turning in place or revisiting?

A scripted agent in VizDoom MyWayHome (`vizdoom_sparse`, spawn in the far-west room) goes
through four phases in ONE episode (one episodic memory, the PPO+EC settings):

  1. `turn_first`: one full turn in place (26 turn-left steps of ~14 degrees);
  2. `turn_repeat`: two more full turns in place (views already in memory);
  3. `walk_new_rooms`: walks west -> centre -> centre-east -> north -> north-east -> east room
     (MapSpots 11, 16, 17, 18, 22, 23, 24, 25, 26), rooms never seen before;
  4. `walk_back`: turns round and walks the same way back to the west room (revisits, seen
     from the other side);
  5. `walk_again`: turns round and walks the first leg again, west -> centre-east room (revisit,
     same heading as in phase 3).

The waypoint follower turns towards the next waypoint when the heading error exceeds 10
degrees, else moves forward. The bonus of each step is computed from the recorded frames with
the R-network of `r_network_quality.py` (`common.episodic_bonus_along`).

    python experiments/bonus_sanity.py [--quick] [--r_network=PATH.h5]

Outputs: `bonus_trajectory.csv` (step, phase, x, y, angle, bonus, aggregate, memory size),
`bonus_sanity.png` (bonus along time, and on the map), `headline.json` (mean bonus per phase).
"""

from __future__ import annotations

import math
import os

from absl import app
from absl import flags
import numpy as np

import common

# MapSpot centres of the MyWayHome map: rooms and the corridors between them.
SPOTS = {
    10: (240.0, -176.0),
    11: (464.0, -176.0),
    16: (575.4, -171.8),
    17: (686.8, -173.2),
    18: (686.6, -62.4),
    22: (694.2, 58.3),
    23: (871.5, 54.5),
    24: (1043.1, 60.2),
    25: (1039.7, -61.7),
    26: (1039.3, -169.9),
}
FORWARD_PATH = (11, 16, 17, 18, 22, 23, 24, 25, 26)
BACK_PATH = (25, 24, 23, 22, 18, 17, 16, 11, 10)
AGAIN_PATH = (11, 16, 17)
PHASES = ("turn_first", "turn_repeat", "walk_new_rooms", "walk_back", "walk_again")
TURN_STEPS = 26  # ~14 degrees per turn action: one full turn
ACTION_FORWARD, ACTION_LEFT, ACTION_RIGHT = 1, 2, 3


class Recorder:
    """Steps the env and keeps every frame with its position, heading and phase."""

    def __init__(self, env, frame, info):
        self.env = env
        self.frames, self.rows = [frame], [self._row(info, "start")]
        self.actions: list[int] = []  # actions[t] leads from frames[t] to frames[t + 1]
        self.info = info

    @staticmethod
    def _row(info, phase):
        return {
            "phase": phase,
            "x": float(info["position"][0]),
            "y": float(info["position"][1]),
            "angle": float(info["angle"]),
        }

    def step(self, action: int, phase: str) -> None:
        frame, _, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            raise RuntimeError(f"the episode ended during phase {phase!r}; shorten the script")
        self.frames.append(frame)
        self.actions.append(int(action))
        self.rows.append(self._row(info, phase))
        self.info = info

    def follow(self, waypoints, phase: str, max_steps_per_waypoint: int = 60, radius: float = 24.0) -> None:
        for spot in waypoints:
            target = np.array(SPOTS[spot])
            for _ in range(max_steps_per_waypoint):
                position = np.asarray(self.info["position"][:2])
                offset = target - position
                if np.hypot(*offset) < radius:
                    break
                heading = math.degrees(math.atan2(offset[1], offset[0]))
                error = (heading - self.info["angle"] + 180.0) % 360.0 - 180.0
                action = ACTION_FORWARD if abs(error) < 10 else ACTION_LEFT if error > 0 else ACTION_RIGHT
                self.step(action, phase)

    def turn_around(self, phase: str) -> None:
        for _ in range(TURN_STEPS // 2):
            self.step(ACTION_LEFT, phase)


def record_trajectory(quick: bool):
    from episodic_curiosity import environments

    env = environments.make_env("vizdoom_sparse", seed=0)
    try:
        frame, info = env.reset(seed=0)
        recorder = Recorder(env, frame, info)
        for _ in range(TURN_STEPS):
            recorder.step(ACTION_LEFT, "turn_first")
        for _ in range(TURN_STEPS if quick else 2 * TURN_STEPS):
            recorder.step(ACTION_LEFT, "turn_repeat")
        recorder.follow(FORWARD_PATH[:3] if quick else FORWARD_PATH, "walk_new_rooms")
        recorder.turn_around("walk_back")
        recorder.follow(BACK_PATH[-3:] if quick else BACK_PATH, "walk_back")
        recorder.turn_around("walk_again")
        recorder.follow(AGAIN_PATH[:1] if quick else AGAIN_PATH, "walk_again")
    finally:
        env.close()
    return np.stack(recorder.frames), recorder.rows


def plot(rows, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = dict(zip(PHASES, ("tab:orange", "tab:red", "tab:green", "tab:blue", "tab:purple")))
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1.3, 1]})
    steps = np.arange(len(rows))
    bonus = np.array([row["bonus"] for row in rows])
    left.plot(steps, bonus, color="black", linewidth=0.6)
    for phase in PHASES:
        index = [i for i, row in enumerate(rows) if row["phase"] == phase]
        if index:
            left.axvspan(
                index[0] - 0.5,
                index[-1] + 0.5,
                color=colors[phase],
                alpha=0.2,
                label=f"{phase} (mean {bonus[index].mean():+.2f})",
            )
    left.axhline(0, color="grey", linewidth=0.5)
    left.set(xlabel="agent step", ylabel="EC bonus  beta - C(M, e)", title="Bonus along the trajectory")
    left.legend(fontsize=7, loc="lower left")
    for phase, marker in zip(("walk_new_rooms", "walk_back", "walk_again"), ("o", "s", "^")):
        index = [i for i, row in enumerate(rows) if row["phase"] == phase]
        if index:
            points = right.scatter(
                [rows[i]["x"] for i in index],
                [rows[i]["y"] for i in index],
                c=bonus[index],
                cmap="viridis",
                vmin=-0.5,
                vmax=0.5,
                s=14,
                marker=marker,
                label=phase,
            )
    right.scatter([rows[0]["x"]], [rows[0]["y"]], marker="*", s=120, color="red", label="spawn (turns)")
    right.set(
        xlabel="x (map units)", ylabel="y", title="Bonus on the map", aspect="equal", xlim=(150, 1130), ylim=(-320, 140)
    )
    right.legend(fontsize=7, loc="lower right")
    figure.colorbar(points, ax=right, shrink=0.7, label="bonus")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=85)
    plt.close(figure)


def _define_flags() -> None:
    flags.DEFINE_string("output_dir", common.default_output_dir("bonus_sanity"), "Small results.")
    flags.DEFINE_string("r_network", None, "R-network weights; default: newest of r_network_quality.")
    flags.DEFINE_boolean("quick", False, "Smoke check: a shorter script.")


def main(argv):
    del argv
    from episodic_curiosity import process_control  # pylint: disable=g-import-not-at-top

    # SIGTERM or Ctrl-C: the runs' clean-up (env workers closed, atomic files) runs, then one line.
    process_control.install_stop_handlers()
    config = flags.FLAGS
    output_dir = config.output_dir
    os.makedirs(output_dir, exist_ok=True)
    weights = config.r_network or common.newest_r_network()
    frames, rows = record_trajectory(config.quick)
    r_net = common.load_r_network(weights)
    result = common.episodic_bonus_along(r_net, frames, seed=0)
    for i, row in enumerate(rows):
        row.update(
            step=i,
            bonus=float(result["bonus"][i]),
            aggregate=float(result["aggregate"][i]),
            memory_size=int(result["memory_size"][i]),
        )
    ordered = [
        {k: row[k] for k in ("step", "phase", "x", "y", "angle", "bonus", "aggregate", "memory_size")} for row in rows
    ]
    common.write_rows_csv(os.path.join(output_dir, "bonus_trajectory.csv"), ordered)
    means = {}
    for phase in PHASES:
        in_phase = [row for row in rows[1:] if row["phase"] == phase]
        added = [row["aggregate"] < common.TAU for row in in_phase]
        means[phase] = {
            "mean_bonus": round(float(np.mean([row["bonus"] for row in in_phase])), 4),
            "steps": len(in_phase),
            "share_added_to_memory": round(float(np.mean(added)), 4),
        }
    new_rooms = means["walk_new_rooms"]["mean_bonus"]
    headline = {
        "r_network": weights,
        "beta": common.BETA,
        "tau": common.TAU,
        "per_phase": means,
        "new_rooms_above_turning": new_rooms
        > max(means["turn_first"]["mean_bonus"], means["turn_repeat"]["mean_bonus"]),
        "new_rooms_above_revisits": new_rooms
        > max(means["walk_back"]["mean_bonus"], means["walk_again"]["mean_bonus"]),
        "quick": config.quick,
    }
    common.write_json(os.path.join(output_dir, "headline.json"), headline)
    plot(
        rows,
        os.path.join(output_dir, "bonus_sanity.png"),
        "EC bonus of a scripted walk in MyWayHome (one episode, memory 200, beta = tau = 0.5)",
    )
    print(headline)


if __name__ == "__main__":
    _define_flags()
    app.run(main)
