r"""Runs a sweep of launcher runs (methods x scenarios x run numbers) on Ray: `ec-sweep`.

    python scripts/launch_sweep.py --workdir=/tmp/ec_sweep --methods=ppo,ppo_plus_ec \
        --scenarios=vizdoom_sparse --runs=2 --scale=smoke --cpus_per_run=2

See `episodic_curiosity/launch_sweep.py` for every flag and `episodic_curiosity/sweep.py` for
the layout and the R-network jobs.
"""

from episodic_curiosity import launch_sweep

if __name__ == "__main__":
    launch_sweep.run()
