"""Writes `rewards.npz`: the training rewards of one fixed rollout per method, as computed by
the per-method wrappers that preceded `episodic_curiosity.intrinsic` (commit 8903dbe:
`CuriosityEnvWrapper` with exploration_reward 'episodic_curiosity' / 'oracle', the ECO
observer, `IcmEnvWrapper`). It runs against that commit only; `tests/test_intrinsic_equality.py`
replays the same rollout through the intrinsic-reward interface and compares.

    git worktree add /tmp/before 8903dbe && cp generate.py /tmp/before/ && cd /tmp/before && \
        python generate.py <this folder>
"""

import os
import sys
import tempfile

import gin
import numpy as np
import tensorflow as tf

from episodic_curiosity import curiosity_env_wrapper
from episodic_curiosity import environments
from episodic_curiosity import icm as icm_lib
from episodic_curiosity import icm_env_wrapper
from episodic_curiosity import online_r_training
from episodic_curiosity import r_network

NUM_ENVS, STEPS, EPISODE_LENGTH = 3, 40, 17
R_NETWORK_BINDINGS = [
    "build_embedding_network.stage_filters = (4, 4, 8, 8)",
    "build_embedding_network.embedding_size = 8",
    "build_comparator_network.hidden_units = 8",
    "build_embedding_network.input_pooling = 4",
    "EpisodicMemory.capacity = 6",
    "EpisodicMemory.replacement = 'random'",
    "GridOracle.reward_grid_size = 1.0",
    "GridOracle.cell_reward_normalizer = 1.0",
    "IntrinsicCuriosityModule.conv_filters = 8",
    "IntrinsicCuriosityModule.hidden_units = 16",
]


# ECO retrains the R-network within the rollout: longer episodes give it pairs to train on
# (the v2 rule samples few pairs from short trajectories), with batches of 8 instead of 64.
ECO_STEPS, ECO_EPISODE_LENGTH, ECO_HISTORY, ECO_BATCH_SIZE = 80, 50, 60, 8


def vector_env(episode_length=EPISODE_LENGTH):
    return environments.make_vector_env(
        "fake", NUM_ENVS, asynchronous=False, base_seed=5, env_kwargs={"episode_length": episode_length}
    )


def run(env, actions):
    env.reset(seed=None)
    rewards = []
    for step_actions in actions:
        rewards.append(env.step(step_actions)[1])
    rewards = np.array(rewards)
    if getattr(env, "deferred_bonus", False):
        rewards = env.rollout_rewards(rewards)
    env.close()
    return rewards


def main(out_dir):
    gin.parse_config(R_NETWORK_BINDINGS)
    tf.keras.utils.set_random_seed(0)
    network = r_network.RNetwork()
    rng = np.random.default_rng(4)
    # Untrained, the embeddings are ~1e3 and the comparator saturates: rescale its Dense layers
    # so that the similarities of the rollout's frames spread over (0, 1).
    dense = network._comparator_branch.weighted_layers[1::2]
    for i, layer in enumerate(dense):
        layer.kernel.assign(rng.normal(size=layer.kernel.shape).astype(np.float32) * (1 / 3000 if i == 0 else 1))
    dense[-1].bias.assign(np.array([0.0, 6.0], np.float32))
    network.sync_inference_weights()
    weights = os.path.join(out_dir, "r_network.h5")
    network.save_weights(weights)
    actions = rng.integers(0, 4, size=(STEPS, NUM_ENVS))
    common = dict(scale_task_reward=2.0, memory_seed=3, log_statistics=False)
    ec = dict(
        exploration_reward="episodic_curiosity",
        scale_surrogate_reward=1.0,
        similarity_threshold=0.8,
        bonus_reward_additive_term=0.1,
        exploration_reward_min_step=5,
        **common,
    )
    results = {"actions": actions}
    results["ppo_plus_ec"] = run(
        curiosity_env_wrapper.CuriosityEnvWrapper(vector_env(), r_network.RNetwork(weights_path=weights), **ec), actions
    )
    results["ppo_plus_ec_deferred"] = run(
        curiosity_env_wrapper.CuriosityEnvWrapper(
            vector_env(), r_network.RNetwork(weights_path=weights), deferred_bonus=True, embedding_batch_size=27, **ec
        ),
        actions,
    )
    results["ppo_plus_grid_oracle"] = run(
        curiosity_env_wrapper.CuriosityEnvWrapper(
            vector_env(), None, exploration_reward="oracle", scale_surrogate_reward=0.5, **common
        ),
        actions,
    )
    # ECO: the R-network retrained after 60 vector steps (history 60, one epoch).
    online_r_training._BATCH_SIZE = ECO_BATCH_SIZE  # pylint: disable=protected-access
    eco_actions = rng.integers(0, 4, size=(ECO_STEPS, NUM_ENVS))
    results["eco_actions"] = eco_actions
    for name, history in (("ppo_plus_ec_long", None), ("ppo_plus_eco", ECO_HISTORY)):
        tf.keras.utils.set_random_seed(1)
        eco_network = r_network.RNetwork(weights_path=weights)
        eco_env = curiosity_env_wrapper.CuriosityEnvWrapper(vector_env(ECO_EPISODE_LENGTH), eco_network, **ec)
        if history is None:  # the same rollout without online training, to show that it changed the bonus
            results[name] = run(eco_env, eco_actions)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            trainer = online_r_training.OnlineRNetworkTrainer(
                eco_network,
                NUM_ENVS,
                eco_network.input_shape,
                os.path.join(tmp, "frames.u8"),
                observation_history_size=history,
                training_interval=-1,
                num_epochs=1,
                seed=3,
            )
            eco_env.add_observer(trainer)
            trainer.add_weights_listener(eco_env.refresh_memory_keys)
            results[name] = run(eco_env, eco_actions)
            trainer.history.close()
    # ICM: trained after steps 20 and 40 (nsteps 20), 2 epochs x 2 minibatches.
    base = curiosity_env_wrapper.CuriosityEnvWrapper(vector_env(), None, exploration_reward="none", **common)
    module = icm_lib.IntrinsicCuriosityModule(base.single_observation_space, base.single_action_space, seed=2)
    np.savez(os.path.join(out_dir, "icm_weights.npz"), *[v.numpy() for v in module.trainable_variables])
    icm_env = icm_env_wrapper.IcmEnvWrapper(
        base, 20, scale_surrogate_reward=0.7, num_epochs=2, num_minibatches=2, seed=3, module=module
    )
    results["ppo_plus_icm"] = run(icm_env, actions)
    np.savez(os.path.join(out_dir, "rewards.npz"), **results)
    for key, value in results.items():
        print(key, value.shape, float(np.abs(value).sum()))


if __name__ == "__main__":
    main(sys.argv[1])
