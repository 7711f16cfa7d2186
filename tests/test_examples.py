"""The example scripts run (tiny sizes) and do what their docstrings say."""

import importlib.util
import os

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_own_training_loop_trains_on_the_wrapped_vizdoom_reward(capsys, clean_gin):
    pytest.importorskip("vizdoom")
    example = _load("own_training_loop")
    result = example.main(["--num_envs=2", "--total_steps=64", "--rollout=16"])
    assert result["steps"] == 64
    assert result["memory_fill"] >= 1  # the episodic memories filled as the agent moved
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("steps ")]
    assert len(lines) == 2 and "memory fill" in lines[-1]
