"""Gin bindings that shrink the whole pipeline (PPO, R-network, its training) to test size."""

TINY_PIPELINE = (
    "PPOConfig.nsteps = 8",
    "PPOConfig.nminibatches = 2",
    "PPOConfig.noptepochs = 1",
    "train_r.num_epochs = 2",
    "train_r.steps_per_epoch = 3",
    "train_r.validation_steps = 1",
    "train_r.batch_size = 8",
    "train_r.checkpoint_every_epochs = 1",
    "build_embedding_network.stage_filters = (4, 8, 8, 8)",
    "build_embedding_network.embedding_size = 16",
    "build_comparator_network.hidden_units = 16",
)
# The same on the fake env, with short episodes (and long enough ones for the R-network's pairs).
TINY_ON_FAKE = (
    "train_policy.env_kwargs = {'episode_length': 8}",
    "generate_r_training_data.env_kwargs = {'episode_length': 60}",
    *TINY_PIPELINE,
)
