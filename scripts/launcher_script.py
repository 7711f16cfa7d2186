r"""Runs one method x scenario: R-net data -> train_r -> train_policy, continuing what exists.

    python scripts/launcher_script.py --workdir=/tmp/ec --method=ppo_plus_ec \
        --scenario=vizdoom_sparse [--scale=smoke] [--run_number=1] [--seed=N] \
        [--r_networks_path=DIR_OR_H5] \
        [--gin_bindings='RewardScales.scale_surrogate_reward=0.05']

The same program is installed as `ec-launcher` (see `episodic_curiosity/launcher.py`; `--help`
lists the methods, scenarios and scales). Outputs go to
<workdir>/<method>/<scenario>/run_number_<n>/. Rerunning the same command after an
interruption continues from where it stopped; a finished run is not redone.
"""

from episodic_curiosity import launcher

if __name__ == "__main__":
    launcher.run()
