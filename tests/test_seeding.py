"""Per-run seeds and the split rule: same seed, same run; other run number, other run."""

import csv
import json
import os

import h5py
import numpy as np
import pytest

from episodic_curiosity import environments
from episodic_curiosity import launcher
from episodic_curiosity import metrics_csv
from episodic_curiosity import provenance
from episodic_curiosity import seeding
from episodic_curiosity import train_policy

pytestmark = pytest.mark.usefixtures("clean_gin")

# A fake maze small enough that random walks reach the goal: returns depend on the seeds.
TINY = [
    "train_policy.env_kwargs = {'episode_length': 8, 'grid_size': 3, 'goal': (2, 2)}",
    "generate_r_training_data.env_kwargs = {'episode_length': 40}",
    "PPOConfig.nsteps = 8",
    "PPOConfig.nminibatches = 2",
    "PPOConfig.noptepochs = 1",
    "train_policy.eval_every_rollouts = 1",
    "train_r.num_epochs = 2",
    "train_r.steps_per_epoch = 2",
    "train_r.validation_steps = 1",
    "train_r.batch_size = 8",
    "train_r.checkpoint_every_epochs = 1",
    "train_r.shuffle_buffer = 64",
    "build_embedding_network.stage_filters = (4, 4, 4, 4)",
    "build_embedding_network.embedding_size = 8",
    "build_comparator_network.hidden_units = 8",
]
_TIME_COLUMNS = ("fps", "time_elapsed")


def _launch(workdir, run_number, seed=None):
    return launcher.launch(
        str(workdir),
        "ppo_plus_ec",
        "fake",
        run_number=run_number,
        num_timesteps=40,
        num_env=2,
        scale="smoke",
        gin_bindings=TINY,
        asynchronous=False,
        show_progress=False,
        seed=seed,
    )


def _numbers(run_dir):
    """Everything a run computed, without wall-clock columns."""
    result = {}
    for name in ("train", "valid", "test"):
        result[name] = [v for _, v, _ in metrics_csv.read_scalars(os.path.join(run_dir, f"reward_{name}.csv"))]
    with open(os.path.join(run_dir, "progress.csv")) as f:
        result["progress"] = [{k: v for k, v in row.items() if k not in _TIME_COLUMNS} for row in csv.DictReader(f)]
    return result


def _weights(path):
    """The R-network's arrays in storage order (names hold per-process layer counters)."""
    with h5py.File(path, "r") as handle:
        return [
            np.asarray(handle[group][name])
            for group in ("model", "model_1")
            for name in handle[group].attrs["weight_names"]
        ]


def test_same_seed_gives_the_same_run_and_run_numbers_give_different_ones(tmp_path):
    first = _launch(tmp_path / "a", 1)
    again = _launch(tmp_path / "b", 1)
    other = _launch(tmp_path / "a", 2)
    assert (first["seed"], again["seed"], other["seed"]) == (0, 0, 1)
    # Same seed: identical R-network, CSVs and PPO statistics.
    assert all(np.array_equal(x, y) for x, y in zip(_weights(first["r_checkpoint"]), _weights(again["r_checkpoint"])))
    assert _numbers(first["run_dir"]) == _numbers(again["run_dir"])
    # Another run number: another R-network (data, init, shuffling) and other episodes.
    assert not all(
        np.array_equal(x, y) for x, y in zip(_weights(first["r_checkpoint"]), _weights(other["r_checkpoint"]))
    )
    assert _numbers(first["run_dir"])["progress"] != _numbers(other["run_dir"])["progress"]
    first_data = os.path.join(first["run_dir"], "r_training_data", "R_TRAINING", "generation_config.json")
    other_data = os.path.join(other["run_dir"], "r_training_data", "R_TRAINING", "generation_config.json")
    with open(first_data) as f, open(other_data) as g:
        assert json.load(f)["base_seed"] == 123 and json.load(g)["base_seed"] == 123 + seeding.SEEDS_PER_RUN
    # The seed is recorded in the run folder.
    with open(os.path.join(other["run_dir"], "seed.json")) as f:
        assert json.load(f) == {"seed": 1, "run_number": 2}
    records = provenance.read(other["run_dir"])
    assert {"launcher", "train_policy"} <= set(records) and records["train_policy"][-1]["seed"] == 1
    used = records["train_policy"][-1]
    assert used["r_network"] == {
        "path": os.path.abspath(other["r_checkpoint"]),
        "sha256": provenance.sha256_of(other["r_checkpoint"]),
    }
    assert used["command"] and used["package_version"]
    if os.path.exists(os.path.join(os.path.dirname(os.path.dirname(__file__)), ".git")):
        assert len(used["git"]["commit"]) == 40 and isinstance(used["git"]["dirty"], bool)
    for stage_dir in ("r_networks", os.path.join("r_training_data", "R_TRAINING")):
        assert provenance.read(os.path.join(other["run_dir"], stage_dir)), stage_dir


def test_explicit_seed_overrides_the_run_number_and_a_run_keeps_its_seed(tmp_path):
    outputs = launcher.launch(
        str(tmp_path),
        "ppo",
        "fake",
        run_number=3,
        num_timesteps=16,
        num_env=2,
        scale="smoke",
        gin_bindings=TINY,
        asynchronous=False,
        show_progress=False,
        seed=7,
    )
    assert outputs["seed"] == 7
    with pytest.raises(ValueError, match="started with seed 7.*--seed=7"):
        launcher.launch(
            str(tmp_path),
            "ppo",
            "fake",
            run_number=3,
            num_timesteps=16,
            num_env=2,
            scale="smoke",
            gin_bindings=TINY,
            asynchronous=False,
            show_progress=False,
        )


@pytest.mark.parametrize("family", ["vizdoom", "ant", "fake", "dmlab"])
def test_every_use_of_the_env_plays_its_own_episodes(family):
    """R-network data, policy training, validation and test never share (env seed, mixer)."""
    uses = {}
    for seed in (0, 1):
        for split in seeding.R_NETWORK_DATA_SPLITS:
            uses[(seed, split)] = set(seeding.split_env_seeds(family, split, seed, 160))
        for split in ("train", "valid", "test"):
            uses[(seed, split)] = set(seeding.split_env_seeds(family, seeding.policy_split_name(split), seed, 12))
    keys = list(uses)
    for i, first in enumerate(keys):
        for second in keys[i + 1 :]:
            assert not uses[first] & uses[second], (first, second)


def test_policy_envs_use_the_policy_training_split_and_the_runs_seed():
    for split, name in (("train", "POLICY_TRAINING"), ("valid", "VALIDATION"), ("test", "TEST")):
        assert train_policy.split_base_seed(split, 0) == 123 ^ seeding.mixer_seed(name)
        assert train_policy.split_base_seed(split, 2) == (123 + 2 * seeding.SEEDS_PER_RUN) ^ seeding.mixer_seed(name)
    assert train_policy.split_base_seed("train") != 123 ^ seeding.mixer_seed("R_TRAINING")
    env = train_policy.make_policy_envs("fake", 2, "train", asynchronous=False, env_kwargs=None, seed=0)
    try:
        first_frames, _ = env.reset()
    finally:
        env.close()
    expected = environments.make_env("fake", seed=123 ^ seeding.mixer_seed("POLICY_TRAINING"))
    frame, _ = expected.reset()
    from episodic_curiosity import curiosity_env_wrapper  # pylint: disable=g-import-not-at-top

    assert np.array_equal(first_frames[0], curiosity_env_wrapper.resize_frames(frame[None], (84, 84, 3))[0])


def test_bad_seeds_are_refused():
    with pytest.raises(ValueError, match="seed must be an int"):
        seeding.check_seed(-1)
    with pytest.raises(ValueError, match="run_number must be >= 1"):
        seeding.seed_for_run(0)


def test_provenance_records_the_numeric_libraries_and_the_processor(tmp_path):
    """Runs on other processors or library builds differ in the last digits and then diverge, so
    each record names both: the installed versions and the CPU model with the usable cores."""
    import importlib.metadata  # pylint: disable=g-import-not-at-top

    record = provenance.describe(seed=3)
    assert record["libraries"]["tensorflow"] == importlib.metadata.version("tensorflow")
    assert record["libraries"]["numpy"] == np.__version__
    assert set(record["libraries"]) == set(provenance.NUMERIC_LIBRARIES)
    assert record["cpu"]["cores"] == len(os.sched_getaffinity(0))
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Example CPU @ 2.00GHz\n")
    assert provenance.cpu_description.__wrapped__(str(cpuinfo))["model"] == "Example CPU @ 2.00GHz"
    json.dumps(record)  # the record stays JSON


@pytest.mark.parametrize("seed", [0, 3])
def test_split_env_seeds_are_the_seeds_the_envs_get(seed):
    """The listed seeds are those train_policy's envs and the data generator's tasks use."""
    from episodic_curiosity import generate_r_training_data  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import train_policy  # pylint: disable=g-import-not-at-top
    from episodic_curiosity.environments import registry  # pylint: disable=g-import-not-at-top

    made = []
    make_env = registry.make_env

    def recording_make_env(name, seed=None, **kwargs):
        made.append(seed)
        return make_env(name, seed=seed, **kwargs)

    for split in ("train", "valid", "test"):
        listed = [s for s, _ in seeding.split_env_seeds("vizdoom", seeding.policy_split_name(split), seed, 4)]
        # The seeds train_policy's envs are built with (outside DMLab every family takes this path).
        made.clear()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(registry, "make_env", recording_make_env)
            train_policy.make_policy_envs("fake", 4, split, asynchronous=False, env_kwargs=None, seed=seed).close()
        assert listed == made, split
    for split in seeding.R_NETWORK_DATA_SPLITS:
        listed = [s for s, _ in seeding.split_env_seeds("vizdoom", split, seed, 4)]
        used = [
            generate_r_training_data.mix_seed(seeding.env_base_seed(seed) + t, seeding.mixer_seed(split))
            for t in range(4)
        ]
        assert listed == used, split
