r"""Experiment 4: the "couch potato" check (paper sections 4.1 and S).

Does a bonus reward staring at a changing but unreachable stimulus? Three recorded
VizDoom (`vizdoom_sparse`) streams of equal length:

  * `still`: the agent stands still (no-op) in the spawn room: the frames never change;
  * `noise_tv`: the same frames with a 60 x 80 patch (a quarter of the image, lower centre)
    replaced by fresh uniform noise at every step: a TV showing noise, changing but
    unreachable: no action leads anywhere new;
  * `new_rooms`: for scale, the scripted walk through rooms never seen before (the
    `walk_new_rooms` leg of `bonus_sanity.py`), cut to the same length.

Bonuses compared on each stream (each with a fresh memory / model):

  * EC: the episodic-curiosity bonus with the R-network of `r_network_quality.py`
    (`common.episodic_bonus_along`: memory 200, beta = tau = 0.5).
  * ICM (prediction error): `episodic_curiosity/icm.py`'s forward-model error
    eta/2 ||phi_hat(s') - phi(s')||^2 with the settings of `configs/method_ppo_plus_icm.gin`
    (42x42 input, 4 conv x 32, 256 hidden, eta 0.01, Adam 1e-3). The ICM is first trained on
    one random-policy episode (400 Adam steps of 32 transitions), then, as it would be during RL,
    keeps training online on the stream: at each step the bonus of the new transition is read
    first, then one Adam step is taken on 16 transitions drawn from the stream so far.

    python experiments/couch_potato.py [--quick] [--r_network=PATH.h5]

Outputs: `couch_potato.csv` (step, stream, ec_bonus, icm_bonus), `couch_potato.png`,
`headline.json` (mean bonuses per stream; the ICM's over the second half of the stream).
"""

from __future__ import annotations

import os

from absl import app
from absl import flags
import cv2
import numpy as np

import bonus_sanity
import common

STREAMS = ("still", "noise_tv", "new_rooms")
PATCH = (slice(60, 120), slice(40, 120))  # rows, cols of the 120 x 160 frame
POLICY_SIZE = 84


def record_streams(length: int, seed: int) -> dict:
    """{stream: (frames uint8 [T+1, 120, 160, 3], actions int [T])}."""
    from episodic_curiosity import environments

    env = environments.make_env("vizdoom_sparse", seed=0)
    try:
        frame, info = env.reset(seed=0)
        still = [frame]
        for _ in range(length):
            frame, *_ = env.step(0)
            still.append(frame)
        frame, info = env.reset(seed=0)
        recorder = bonus_sanity.Recorder(env, frame, info)
        recorder.follow(bonus_sanity.FORWARD_PATH, "walk_new_rooms")
    finally:
        env.close()
    if len(recorder.frames) < length + 1:
        raise RuntimeError(
            f"the walk has only {len(recorder.frames)} frames; use --length <= {len(recorder.frames) - 1}"
        )
    still = np.stack(still)
    rng = np.random.default_rng(seed)
    noisy = still.copy()
    rows, cols = PATCH
    noisy[:, rows, cols] = rng.integers(0, 256, size=noisy[:, rows, cols].shape, dtype=np.uint8)
    no_ops = np.zeros(length, np.int64)
    return {
        "still": (still, no_ops),
        "noise_tv": (noisy, no_ops),
        "new_rooms": (np.stack(recorder.frames[: length + 1]), np.array(recorder.actions[:length])),
    }


def random_episode(steps: int, seed: int):
    from episodic_curiosity import environments

    env = environments.make_env("vizdoom_sparse", seed=seed)
    rng = np.random.default_rng(seed)
    try:
        frame, _ = env.reset(seed=seed)
        frames, actions = [frame], []
        for _ in range(steps):
            action = int(rng.integers(env.action_space.n))
            frame, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
            frames.append(frame)
            actions.append(action)
    finally:
        env.close()
    return np.stack(frames), np.array(actions)


def to_policy_frames(frames: np.ndarray) -> np.ndarray:
    """120x160 -> 84x84 with area interpolation, as the curiosity wrapper gives the policy."""
    return np.stack([cv2.resize(f, (POLICY_SIZE, POLICY_SIZE), interpolation=cv2.INTER_AREA) for f in frames])


def make_icm(seed: int):
    import gymnasium as gym

    from episodic_curiosity import icm

    return icm.IntrinsicCuriosityModule(
        gym.spaces.Box(0, 255, (POLICY_SIZE, POLICY_SIZE, 3), np.uint8),
        gym.spaces.Discrete(4),
        image_size=(42, 42),
        conv_layers=4,
        conv_filters=32,
        hidden_units=256,
        hidden_activation="relu",
        forward_loss_weight=0.2,
        reward_scale=0.01,
        max_reward=1.0,
        learning_rate=1e-3,
        seed=seed,
    )


def pretrain_icm(module, frames, actions, steps: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        index = rng.integers(0, len(actions), size=32)
        module.train_step(frames[index], actions[index], frames[index + 1])


def icm_bonus_online(module, frames, actions, seed: int) -> np.ndarray:
    """Bonus of transition t read before training on it; then one step on 16 seen transitions."""
    rng = np.random.default_rng(seed)
    bonus = []
    for t in range(len(actions)):
        reward = module.intrinsic_reward(frames[t : t + 1], actions[t : t + 1], frames[t + 1 : t + 2])
        bonus.append(float(reward[0]))
        index = rng.integers(0, t + 1, size=16)
        module.train_step(frames[index], actions[index], frames[index + 1])
    return np.array(bonus)


def plot(results, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = dict(zip(STREAMS, ("tab:grey", "tab:red", "tab:green")))
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for stream in STREAMS:
        ec, icm_bonus = results[stream]
        left.plot(np.arange(1, len(ec)), ec[1:], color=colors[stream], label=stream, linewidth=1)
        right.semilogy(
            np.arange(1, len(icm_bonus) + 1),
            np.maximum(icm_bonus, 1e-7),
            color=colors[stream],
            label=stream,
            linewidth=1,
        )
    left.set(xlabel="agent step", ylabel="EC bonus  beta - C(M, e)", title="Episodic curiosity (EC)")
    left.axhline(0, color="black", linewidth=0.5)
    right.set(xlabel="agent step", ylabel="ICM bonus (log)", title="Prediction error (ICM, trained online)")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _define_flags() -> None:
    flags.DEFINE_string("output_dir", common.default_output_dir("couch_potato"), "Small results.")
    flags.DEFINE_string("r_network", None, "R-network weights; default: newest of r_network_quality.")
    flags.DEFINE_integer("length", 90, "Steps per stream (the new-rooms walk has 91).")
    flags.DEFINE_boolean("quick", False, "Smoke check: short streams, short ICM pre-training.")


def main(argv):
    del argv
    from episodic_curiosity import process_control  # pylint: disable=g-import-not-at-top

    # SIGTERM or Ctrl-C: the runs' clean-up (env workers closed, atomic files) runs, then one line.
    process_control.install_stop_handlers()
    import tensorflow as tf

    config = flags.FLAGS
    os.makedirs(config.output_dir, exist_ok=True)
    tf.keras.utils.set_random_seed(0)
    length = 20 if config.quick else config.length
    weights = config.r_network or common.newest_r_network()
    streams = record_streams(length, seed=0)
    r_net = common.load_r_network(weights)
    warmup_frames, warmup_actions = random_episode(60 if config.quick else 525, seed=4242)
    warmup_frames = to_policy_frames(warmup_frames)
    base = make_icm(seed=0)
    pretrain_icm(base, warmup_frames, warmup_actions, 20 if config.quick else 400, seed=0)
    snapshot = [v.numpy() for v in base.trainable_variables]
    optimizer_snapshot = [v.numpy() for v in base.optimizer.variables]

    results, rows, summary = {}, [], {}
    for stream in STREAMS:
        frames, actions = streams[stream]
        ec = common.episodic_bonus_along(r_net, frames, seed=0)["bonus"]
        for variable, value in zip(base.trainable_variables, snapshot):
            variable.assign(value)
        for variable, value in zip(base.optimizer.variables, optimizer_snapshot):
            variable.assign(value)
        icm_bonus = icm_bonus_online(base, to_policy_frames(frames), actions, seed=1)
        results[stream] = (ec, icm_bonus)
        for t in range(1, len(frames)):
            rows.append({"step": t, "stream": stream, "ec_bonus": float(ec[t]), "icm_bonus": float(icm_bonus[t - 1])})
        half = len(icm_bonus) // 2
        summary[stream] = {
            "ec_mean_bonus": round(float(ec[1:].mean()), 4),
            "ec_share_added_to_memory": round(float(np.mean(ec[1:] > 0)), 4),
            "icm_mean_bonus_second_half": float(f"{icm_bonus[half:].mean():.4g}"),
            "icm_first_bonus": float(f"{icm_bonus[0]:.4g}"),
        }
    common.write_rows_csv(os.path.join(config.output_dir, "couch_potato.csv"), rows)
    ec_ok = summary["noise_tv"]["ec_mean_bonus"] < summary["new_rooms"]["ec_mean_bonus"]
    icm_late = {stream: summary[stream]["icm_mean_bonus_second_half"] for stream in STREAMS}
    icm_ratio = icm_late["noise_tv"] / max(icm_late["still"], 1e-12)
    icm_ratio_new_rooms = icm_late["noise_tv"] / max(icm_late["new_rooms"], 1e-12)
    headline = {
        "r_network": weights,
        "length": length,
        "per_stream": summary,
        "ec_noise_below_new_rooms": ec_ok,
        "icm_noise_over_still_ratio": float(f"{icm_ratio:.4g}"),
        "icm_noise_over_new_rooms_ratio": float(f"{icm_ratio_new_rooms:.4g}"),
        "prediction_error_bonus": "episodic_curiosity/icm.py forward-model error",
        "quick": config.quick,
    }
    common.write_json(os.path.join(config.output_dir, "headline.json"), headline)
    plot(
        results,
        os.path.join(config.output_dir, "couch_potato.png"),
        "Couch potato: standing still, staring at a noise TV, or walking into new rooms",
    )
    print(headline)


if __name__ == "__main__":
    _define_flags()
    app.run(main)
