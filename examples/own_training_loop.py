r"""The episodic-curiosity bonus in your own training loop: a minimal advantage actor-critic on
VizDoom MyWayHome, written like a CleanRL script, with the bonus from `CuriosityEnvWrapper`.

The wrapper turns any Gymnasium vector env into one whose `step()` returns
`s_task x task reward + alpha x bonus`, with `info['task_reward']` and `info['curiosity_bonus']`
(the shipped R-network `pretrained:vizdoom`, the paper's bonus rule and episodic memory). The
loop below knows nothing of curiosity: it trains on the reward `step()` returns.

    python examples/own_training_loop.py --num_envs=8 --total_steps=200000
    python examples/own_training_loop.py --num_envs=2 --total_steps=64 --rollout=16  # seconds

It is an example of the wrapper, not this project's PPO (`episodic_curiosity.train_policy`,
which computes the same bonus once per rollout in batches).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import tensorflow as tf

from episodic_curiosity import curiosity_env_wrapper
from episodic_curiosity import environments
from episodic_curiosity import intrinsic


def make_envs(args):
    envs = environments.make_vector_env(args.scenario, args.num_envs, base_seed=args.seed)  # subprocesses
    return curiosity_env_wrapper.CuriosityEnvWrapper(
        envs,
        intrinsic.EpisodicCuriosity,
        intrinsic.RewardScales(scale_task_reward=1.0, scale_surrogate_reward=args.alpha),
        target_image_shape=(42, 42, 3),
        seed=args.seed,
        r_checkpoint=args.r_network,
    )


def make_agent(num_actions: int) -> tf.keras.Model:
    frames = tf.keras.Input((42, 42, 3), dtype=tf.uint8)
    x = tf.keras.layers.Rescaling(1 / 255)(frames)
    x = tf.keras.layers.Conv2D(16, 8, 4, activation="relu")(x)
    x = tf.keras.layers.Conv2D(32, 4, 2, activation="relu")(x)
    x = tf.keras.layers.Dense(128, activation="relu")(tf.keras.layers.Flatten()(x))
    return tf.keras.Model(frames, [tf.keras.layers.Dense(num_actions)(x), tf.keras.layers.Dense(1)(x)])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="vizdoom_sparse")
    parser.add_argument("--num_envs", type=int, default=8)
    parser.add_argument("--total_steps", type=int, default=200_000, help="agent steps (all envs)")
    parser.add_argument("--rollout", type=int, default=32, help="steps per env between updates")
    parser.add_argument("--alpha", type=float, default=0.03017241379310345, help="bonus factor (the paper's)")
    parser.add_argument("--r_network", default="pretrained:vizdoom")
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--ent_coef", type=float, default=0.01)
    parser.add_argument("--learning_rate", type=float, default=7e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    tf.keras.utils.set_random_seed(args.seed)

    envs = make_envs(args)
    agent = make_agent(int(envs.single_action_space.n))
    optimizer = tf.keras.optimizers.Adam(args.learning_rate)

    @tf.function
    def act(observations):
        logits, values = agent(observations)
        return tf.random.categorical(logits, 1)[:, 0], values[:, 0]

    @tf.function
    def train(observations, actions, returns):
        with tf.GradientTape() as tape:
            logits, values = agent(observations)
            advantages = tf.stop_gradient(returns - values[:, 0])
            log_probs = tf.nn.log_softmax(logits)
            taken = tf.gather(log_probs, actions, batch_dims=1)
            entropy = -tf.reduce_sum(tf.exp(log_probs) * log_probs, axis=1)
            loss = (
                -tf.reduce_mean(taken * advantages)
                + 0.5 * tf.reduce_mean((returns - values[:, 0]) ** 2)
                - args.ent_coef * tf.reduce_mean(entropy)
            )
        grads, _ = tf.clip_by_global_norm(tape.gradient(loss, agent.trainable_variables), 0.5)
        optimizer.apply_gradients(zip(grads, agent.trainable_variables))
        return loss

    observations, _ = envs.reset(seed=args.seed)
    task_returns, episode_task, episode_bonus, bonus_means = [], np.zeros(args.num_envs), np.zeros(args.num_envs), []
    steps, start = 0, time.time()
    try:
        while steps < args.total_steps:
            batch_obs, batch_actions, batch_rewards, batch_dones = [], [], [], []
            for _ in range(args.rollout):
                actions, _ = act(observations)
                batch_obs.append(observations)
                batch_actions.append(actions.numpy())
                observations, rewards, terminated, truncated, infos = envs.step(actions.numpy())
                dones = terminated | truncated
                batch_rewards.append(rewards)
                batch_dones.append(dones)
                episode_task += infos["task_reward"]
                episode_bonus += infos["curiosity_bonus"]
                for env in np.flatnonzero(dones):
                    task_returns.append(episode_task[env])
                    bonus_means.append(episode_bonus[env])
                episode_task[dones] = 0
                episode_bonus[dones] = 0
                steps += args.num_envs
            # n-step returns, cut at episode ends (with same-step auto-reset the observation after
            # an ending step is the next episode's first, so nothing is bootstrapped across it).
            _, next_values = act(observations)
            returns, running = [], next_values.numpy()
            for rewards, dones in zip(reversed(batch_rewards), reversed(batch_dones)):
                running = rewards + args.gamma * running * (1.0 - dones)
                returns.append(running)
            loss = train(
                np.concatenate(batch_obs),
                np.concatenate(batch_actions),
                np.concatenate(returns[::-1]).astype(np.float32),
            )
            print(
                f"steps {steps}: loss {float(loss):.3f}, episodes {len(task_returns)}, "
                f"task return {np.mean(task_returns[-100:]) if task_returns else float('nan'):.3f}, "
                f"episode bonus {np.mean(bonus_means[-100:]) if bonus_means else float('nan'):.2f}, "
                f"memory fill {envs.memory.sizes.mean():.1f}, {steps / (time.time() - start):.0f} steps/s"
            )
    finally:
        envs.close()
    return {"steps": steps, "episodes": len(task_returns), "memory_fill": float(envs.memory.sizes.mean())}


if __name__ == "__main__":
    main()
