r"""Runs one method x scenario: R-net data -> train_r -> train_policy, continuing what exists.

    python scripts/launcher_script.py --workdir=/tmp/ec --method=ppo_plus_ec \
        --scenario=vizdoom_sparse [--scale=smoke] [--run_number=1] [--r_networks_path=DIR_OR_H5] \
        [--gin_bindings='CuriosityEnvWrapper.scale_surrogate_reward=0.05']

Methods: ppo, ppo_plus_ec, ppo_plus_eco, ppo_plus_grid_oracle, ppo_plus_icm.
Outputs go to <workdir>/<method>/<scenario>/run_number_<n>/. Rerunning the same command after an
interruption continues from where it stopped; a finished run is not redone.
"""

from absl import app
from absl import flags

from episodic_curiosity import launcher
from episodic_curiosity import runtime

_WORKDIR = flags.DEFINE_string("workdir", None, "Root output folder.")
_METHOD = flags.DEFINE_string("method", "ppo_plus_ec", f"One of {', '.join(launcher.METHODS)}.")
_SCENARIO = flags.DEFINE_string("scenario", "vizdoom_sparse", "Registered scenario name.")
_RUN_NUMBER = flags.DEFINE_integer("run_number", 1, "Run index (seeds stay the original's).")
_NUM_TIMESTEPS = flags.DEFINE_integer("num_timesteps", None, "Agent steps (default by --scale).")
_NUM_ENV = flags.DEFINE_integer("num_env", None, "Parallel envs (default by --scale: 12 / 4).")
_R_NETWORKS_PATH = flags.DEFINE_string("r_networks_path", None,
                                       "Pre-trained R-net .h5, or a folder searched for the newest one.")
_SCALE = flags.DEFINE_enum("scale", "paper", list(launcher.SCALES), "paper or smoke sizes.")
_GIN_BINDINGS = flags.DEFINE_multi_string("gin_bindings", [], "Extra gin bindings (applied last).")
_INTRA_OP_THREADS = flags.DEFINE_integer("intra_op_threads", 0, "TensorFlow threads per op (0: one per core).")
_INTER_OP_THREADS = flags.DEFINE_integer("inter_op_threads", 0, "Concurrent TensorFlow ops (0: default).")


def main(argv):
    del argv
    if not _WORKDIR.value:
        raise app.UsageError("--workdir is required")
    runtime.configure_threads(_INTRA_OP_THREADS.value, _INTER_OP_THREADS.value)
    outputs = launcher.launch(_WORKDIR.value, _METHOD.value, _SCENARIO.value, _RUN_NUMBER.value,
                              _NUM_TIMESTEPS.value, _NUM_ENV.value, _R_NETWORKS_PATH.value,
                              _SCALE.value, _GIN_BINDINGS.value)
    for name, value in outputs.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    app.run(main)
