import copy
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

TINY_CONFIG = {
    "seed": 0,
    "device": "cpu",
    "datasets": {
        "parity": {"generator": "parity", "core_bits": 3, "spurious_bits": 1, "noise_bits": 4,
                   "n_train": 400, "n_test": 400, "rho_train": 0.1, "rho_test": 0.5},
    },
    "models": {"fcn": {"arch": "fcn", "hidden": [32, 32, 32]}},
    "training": {"lr": 0.1, "batch_size": 50, "max_epochs": 15, "checkpoint_epochs": [0, 2, 8]},
    "evaluation": {"kappas": [0.1, 0.5, 0.9], "ig": {"n_samples": 20, "n_baselines": 2, "n_steps": 8}},
    "studies": {
        "fig3": {"dataset": "parity", "model": "fcn", "grid": {"lr": [0.05, 0.5]}, "seeds": [0, 1]},
    },
    "figures": {"fig3": {"layout": "fig3", "studies": ["fig3"]}},
}


def reversed_keys(value):
    """``value`` with every mapping's keys in reverse order (the same config, written otherwise)."""
    if isinstance(value, dict):
        return {key: reversed_keys(value[key]) for key in reversed(list(value))}
    return value


@pytest.fixture
def tiny_config():
    return copy.deepcopy(TINY_CONFIG)


@pytest.fixture
def tiny_config_file(tmp_path, tiny_config):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tiny_config))
    return path
