r"""A trained policy, evaluated on the test seeds and shipped as `pretrained:<name>` (issue #20).

    python experiments/ship_policy.py \
        --run_dir=<experiments workdir>/navigation/ppo_plus_ec/vizdoom_sparse/run_number_1 \
        [--name=vizdoom_sparse_ppo_plus_ec] [--num_episodes=48] [--min_success=0.9] [--ship]

Takes the run's newest policy checkpoint (or `--checkpoint`), exports its policy weights
(`checkpoint_io.export_policy`: no optimizer state, the arrays bit for bit), evaluates the
exported file with `eval_policy` on the test and validation seeds, and writes the evaluation to
`--output_dir`. With `--ship`, and only if the test success rate is at least `--min_success`,
the file goes into the package (`episodic_curiosity/pretrained/<name>/`) with a `card.json`:
what the policy is, how it was trained (the launcher's commands and commits from the run's
`provenance.json`, steps, seed, R-network) and what it measured. Below the threshold nothing in
the package changes.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import shutil
import sys
import tempfile

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from episodic_curiosity import atomic_files  # noqa: E402  pylint: disable=g-import-not-at-top
from episodic_curiosity import checkpoint_io  # noqa: E402  pylint: disable=g-import-not-at-top
from episodic_curiosity import pretrained  # noqa: E402  pylint: disable=g-import-not-at-top
from episodic_curiosity import provenance  # noqa: E402  pylint: disable=g-import-not-at-top

import common  # noqa: E402  pylint: disable=g-import-not-at-top

DEFAULT_NAME = "vizdoom_sparse_ppo_plus_ec"


class BelowThresholdError(RuntimeError):
    """The policy's test success rate is below what shipping asks for."""


def run_steps(run_dir: str, update: int) -> int | None:
    """Agent steps trained when update `update` ended, from the run's `progress.csv`."""
    path = os.path.join(run_dir, "progress.csv")
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        for row in csv.DictReader(handle):
            if row.get("nupdates") and int(float(row["nupdates"])) == update:
                return int(float(row["total_timesteps"]))
    return None


def _scrub(text: str, run_dir: str) -> str:
    """Machine paths out of a command: the experiments workdir (or, for a run folder not in the
    launcher's `<workdir>/<method>/<scenario>/run_number_<n>` layout, the run folder itself) and
    the repository."""
    run_dir = os.path.abspath(run_dir)
    if os.path.basename(run_dir).startswith("run_number_"):
        work_dir = os.path.dirname(os.path.dirname(os.path.dirname(run_dir)))
        if os.path.basename(os.path.dirname(work_dir)) == "variants":
            # A search variant's launcher workdir, `<base>/variants/<name>` (experiments/navigation.py):
            # the recorded commands name the base.
            work_dir = os.path.dirname(os.path.dirname(work_dir))
        placeholders = {work_dir: "<experiments workdir>"}
    else:
        placeholders = {run_dir: "<run folder>"}
    placeholders[common.REPO_ROOT] = "<repo>"
    return common.scrub_paths(text, placeholders)


def shipped_r_network_name(sha256: str | None) -> str | None:
    """The `pretrained:` name of the shipped R-network with this digest, if any."""
    if not sha256:
        return None
    for name in pretrained.available():
        try:
            if provenance.sha256_of(pretrained.resolve(pretrained.PREFIX + name)) == sha256:
                return pretrained.PREFIX + name
        except (OSError, pretrained.UnknownPretrainedModelError):
            continue
    return None


def build_card(
    name: str,
    run_dir: str,
    checkpoint: str,
    weights_name: str,
    evaluations: dict,
    size: int,
    weights_dtype: str = "float32",
) -> dict:
    """The JSON card of a policy exported from `checkpoint` of launcher run `run_dir`.

    Args:
      name: str, the model name (without the prefix).
      run_dir: str, the launcher's run folder (`provenance.json`, `progress.csv`).
      checkpoint: str, the training checkpoint the weights come from.
      weights_name: str, the shipped file's name.
      evaluations: {'test': eval_policy summary, 'valid': ...}.
      size: int, the shipped file's size in bytes.
      weights_dtype: str, how the exported file stores the weights (`export_policy`).
    """
    attributes = checkpoint_io.read_attributes(checkpoint)
    update = int(attributes.get("update", 0))
    launches = provenance.read(run_dir).get("launcher") or []
    first = launches[0] if launches else {}
    last = launches[-1] if launches else {}
    r_network = first.get("r_network") or {}
    measured = {}
    for split, summary in evaluations.items():
        measured[f"{split}_success_rate"] = summary["success_rate"]
        measured[f"{split}_mean_return"] = summary["mean_return"]
        measured[f"{split}_episodes"] = summary["episodes"]
    shape = attributes.get("observation_shape")
    return {
        "name": pretrained.PREFIX + name,
        "kind": "policy",
        "weights": weights_name,
        "what": (
            f"{first.get('method', '?')} policy for {attributes.get('scenario', '?')} at {first.get('scale', '?')} "
            f"scale: {attributes.get('policy_architecture')} on {'x'.join(map(str, shape or []))} observations "
            f"({attributes.get('frame_stack', 1)} frame), {attributes.get('action_space', {}).get('n')} actions"
        ),
        "scenario": attributes.get("scenario"),
        "method": first.get("method"),
        "scale": first.get("scale"),
        "seed": attributes.get("seed"),
        "update": update,
        "agent_steps": run_steps(run_dir, update),
        "asked_agent_steps": last.get("num_timesteps"),
        # The launch that finished the run (earlier launches, if any, resumed to shorter totals).
        "command": _scrub(" ".join(last.get("command", [])), run_dir),
        "commit": (last.get("git") or {}).get("commit"),
        "commands": [_scrub(" ".join(launch.get("command", [])), run_dir) for launch in launches],
        "commits": [
            {"commit": (launch.get("git") or {}).get("commit"), "dirty": (launch.get("git") or {}).get("dirty")}
            for launch in launches
        ],
        "r_network": shipped_r_network_name(r_network.get("sha256")) or r_network.get("sha256"),
        "measured": measured,
        "measured_by": f"python experiments/ship_policy.py --run_dir={_scrub(os.path.abspath(run_dir), run_dir)} "
        f"--num_episodes={next(iter(evaluations.values()))['episodes'] if evaluations else 0} "
        f"--weights_dtype={weights_dtype}",
        "weights_dtype": weights_dtype,
        "measured_note": "eval_policy on the exported file: stochastic policy, one episode per env per round",
        "size_bytes": size,
    }


def evaluate(path: str, scenario: str, num_episodes: int, splits=("test", "valid"), **kwargs) -> dict:
    from episodic_curiosity import eval_policy  # pylint: disable=g-import-not-at-top

    scratch = tempfile.mkdtemp(prefix="ship_policy_eval_")
    try:
        return {
            split: eval_policy.eval_policy(
                path,
                scenario,
                split=split,
                num_episodes=num_episodes,
                output=os.path.join(scratch, f"{split}.json"),
                **kwargs,
            )
            for split in splits
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def check_name(name: str) -> None:
    """Raises ValueError unless `name` can be a shipped policy's folder: one plain folder name
    (what `pretrained:<name>` resolves), not a shipped model of another kind."""
    if not name or name in (os.curdir, os.pardir) or os.sep in name or (os.altsep and os.altsep in name):
        raise ValueError(f"--name={name!r}: give one plain folder name (loads as pretrained:<name>), no '/' or '..'")
    card_path = os.path.join(pretrained.MODELS_DIR, name, pretrained.CARD_FILE)
    if os.path.exists(card_path):
        with open(card_path) as handle:
            kind = json.load(handle).get("kind")
        if kind != "policy":
            raise ValueError(
                f"--name={name!r} is a shipped model of kind {kind!r}, not a policy; shipping would replace it: "
                "choose another --name"
            )


def ship(exported: str, card: dict, name: str) -> str:
    """Puts `exported` and its card into the package's model folder `name`; returns the folder."""
    check_name(name)
    folder = os.path.join(pretrained.MODELS_DIR, name)
    os.makedirs(folder, exist_ok=True)
    target = os.path.join(folder, card["weights"])
    with atomic_files.atomic_path(target) as tmp_path:
        shutil.copyfile(exported, tmp_path)
    atomic_files.write_json(os.path.join(folder, pretrained.CARD_FILE), card)
    for old in glob.glob(os.path.join(folder, "*.h5")):
        if os.path.basename(old) != card["weights"]:
            os.remove(old)
    return folder


def export_evaluate_and_ship(
    run_dir: str,
    name: str = DEFAULT_NAME,
    checkpoint: str | None = None,
    num_episodes: int = 48,
    min_success: float = 0.9,
    do_ship: bool = False,
    output_dir: str | None = None,
    weights_dtype: str = "float32",
    **eval_kwargs,
) -> dict:
    """Exports (`weights_dtype`: see `checkpoint_io.export_policy`), evaluates the exported file
    and (with `do_ship`) ships it; returns the card.

    Raises:
      FileNotFoundError: no policy checkpoint in `run_dir/checkpoints`.
      BelowThresholdError: `do_ship` and the test success rate is below `min_success` (the
        package is left as it was; the card is still written to `output_dir`).
    """
    checkpoint = checkpoint or checkpoint_io.newest_checkpoint(os.path.join(run_dir, "checkpoints"))
    if checkpoint is None:
        raise FileNotFoundError(
            f"no policy checkpoint (policy.NNNNN.h5) in {os.path.join(run_dir, 'checkpoints')!r}; pass the "
            "launcher's run folder (…/<method>/<scenario>/run_number_<n>) or --checkpoint"
        )
    if do_ship:
        check_name(name)  # before the evaluation's minutes, not after
    scenario = checkpoint_io.read_attributes(checkpoint).get("scenario")
    if not scenario:
        raise ValueError(
            f"{checkpoint!r} records no scenario (a checkpoint written before train_policy stored it): "
            "evaluate it with `python -m episodic_curiosity.eval_policy --checkpoint=... --scenario=...` instead"
        )
    weights_name = os.path.basename(checkpoint)
    scratch = tempfile.mkdtemp(prefix="ship_policy_")
    try:
        exported = os.path.join(scratch, weights_name)
        size = checkpoint_io.export_policy(checkpoint, exported, weights_dtype)
        evaluations = evaluate(exported, scenario, num_episodes, **eval_kwargs)
        card = build_card(name, run_dir, checkpoint, weights_name, evaluations, size, weights_dtype)
        if output_dir:
            atomic_files.write_json(os.path.join(output_dir, f"{name}_card.json"), card)
        success = card["measured"]["test_success_rate"]
        if do_ship:
            if success < min_success:
                raise BelowThresholdError(
                    f"test success rate {success:.3f} over {card['measured']['test_episodes']} episodes is below "
                    f"--min_success={min_success}: not shipped (the package is unchanged); train longer or "
                    "lower --min_success deliberately"
                )
            card["folder"] = ship(exported, card, name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return card


def _define_flags() -> None:
    flags.DEFINE_string("run_dir", None, "The launcher's run folder (…/<method>/<scenario>/run_number_<n>).")
    flags.DEFINE_string("checkpoint", None, "A policy checkpoint (default: the run's newest).")
    flags.DEFINE_string("name", DEFAULT_NAME, "Model name: loads as pretrained:<name>.")
    flags.DEFINE_integer("num_episodes", 48, "Evaluation episodes per split (test, valid).")
    flags.DEFINE_float("min_success", 0.9, "Ship only at or above this test success rate.")
    flags.DEFINE_boolean("ship", False, "Copy the weights and a card into episodic_curiosity/pretrained/<name>/.")
    flags.DEFINE_string("output_dir", common.default_output_dir("shipped_policy"), "Where the card is written.")
    flags.DEFINE_enum(
        "weights_dtype",
        "float32",
        ["float32", "float16"],
        "float32: the weights bit for bit; float16: half the size (the card measures the rounded file).",
    )
    flags.mark_flag_as_required("run_dir")


def main(argv):
    del argv
    from episodic_curiosity import process_control  # pylint: disable=g-import-not-at-top

    # SIGTERM or Ctrl-C: the runs' clean-up (env workers closed, atomic files) runs, then one line.
    process_control.install_stop_handlers()
    config = flags.FLAGS
    card = export_evaluate_and_ship(
        config.run_dir,
        name=config.name,
        checkpoint=config.checkpoint,
        num_episodes=config.num_episodes,
        min_success=config.min_success,
        do_ship=config.ship,
        output_dir=config.output_dir,
        weights_dtype=config.weights_dtype,
    )
    print(json.dumps(card, indent=1, sort_keys=True))


if __name__ == "__main__":
    _define_flags()
    app.run(main)
