import pytest
import torch

from spurcomp.runtime import derived_seed, resolve_device


def test_device_selection():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(ValueError, match=r"allowed: \['auto', 'cpu', 'cuda'\]"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            resolve_device("cuda")


def test_derived_seeds_are_stable_and_distinct():
    assert derived_seed("batch-order", 0, 1) == derived_seed("batch-order", 0, 1)
    assert len({derived_seed("batch-order", 0, e) for e in range(100)}) == 100
    assert 0 <= derived_seed("init", 3) < 2**63
