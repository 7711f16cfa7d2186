"""Shipped models: `pretrained:<name>` resolves wherever a weights path is accepted."""

import json
import os

import pytest

from episodic_curiosity import pretrained


def test_other_paths_pass_through():
    assert pretrained.resolve("some/r_network_weights.00001.h5") == "some/r_network_weights.00001.h5"
    assert pretrained.resolve(None) is None


def test_unknown_name_lists_the_shipped_models():
    with pytest.raises(pretrained.UnknownPretrainedModelError) as error:
        pretrained.resolve("pretrained:no_such_model")
    message = str(error.value)
    assert "no_such_model" in message and "this package ships" in message
    for name in pretrained.available():
        assert f"pretrained:{name}" in message


def test_a_model_folder_resolves_to_its_weights(tmp_path, monkeypatch):
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "r_network_weights.00003.h5").write_bytes(b"")
    (folder / "card.json").write_text(json.dumps({"weights": "r_network_weights.00003.h5", "kind": "r_network"}))
    monkeypatch.setattr(pretrained, "MODELS_DIR", str(tmp_path))
    assert pretrained.available() == ["toy"]
    assert pretrained.resolve("pretrained:toy") == str(folder / "r_network_weights.00003.h5")
    assert pretrained.card("pretrained:toy")["kind"] == "r_network"
    (folder / "r_network_weights.00003.h5").unlink()
    with pytest.raises(pretrained.UnknownPretrainedModelError, match="holds no weights file"):
        pretrained.resolve("pretrained:toy")


@pytest.mark.parametrize("name", pretrained.available())
def test_shipped_models_have_cards_and_weights(name):
    card = pretrained.card(name)
    for key in ("kind", "weights", "command", "seed", "commit", "measured"):
        assert key in card, key
    path = pretrained.resolve(f"pretrained:{name}")
    assert os.path.isfile(path) and os.path.getsize(path) < 20 * 1024 * 1024
