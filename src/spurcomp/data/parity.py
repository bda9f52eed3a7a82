"""The parity dataset (Qiu et al., ICML 2024, as used in sec. 4.1 of the paper).

x = [core bits | spurious bits | noise bits], each bit encoded as -1/+1. The class label y is the parity of
the C core bits (1 when an odd number of them are +1), the bias label b the parity of the S spurious bits.
With C > S the spurious parity is the simpler function. Each block is drawn uniformly among the bit vectors
with the required parity, so within a block no bit but the parity carries information.
"""
from __future__ import annotations

import numpy as np

from spurcomp.data.io import FEATURE_CODES, Dataset, Split, balanced_labels, bias_labels, dataset_metadata



def bits_with_parity(parity: np.ndarray, width: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform 0/1 vectors of ``width`` bits whose parity (sum mod 2) is ``parity`` (one per row)."""
    bits = rng.integers(0, 2, size=(len(parity), width), dtype=np.int64)
    wrong = bits.sum(axis=1) % 2 != parity
    # flipping bit 0 is a bijection between even- and odd-parity vectors, so the result stays uniform.
    bits[wrong, 0] ^= 1
    return bits


def make_split(n: int, core_bits: int, spurious_bits: int, noise_bits: int, rho: float,
               rng: np.random.Generator) -> Split:
    y = balanced_labels(n, 2, rng)
    b = bias_labels(y, rho, rng, 2)
    bits = np.concatenate(
        [
            bits_with_parity(y, core_bits, rng),
            bits_with_parity(b, spurious_bits, rng),
            rng.integers(0, 2, size=(n, noise_bits), dtype=np.int64),
        ],
        axis=1,
    )
    feature_row = np.concatenate([
        np.full(core_bits, FEATURE_CODES["core"]),
        np.full(spurious_bits, FEATURE_CODES["spurious"]),
        np.full(noise_bits, FEATURE_CODES["noise"]),
    ]).astype(np.uint8)
    return Split(
        x=(2 * bits - 1).astype(np.float32),
        y=y,
        b=b,
        feature=np.broadcast_to(feature_row, bits.shape).copy(),
    )


def generate(*, core_bits: int, spurious_bits: int, noise_bits: int, n_train: int, n_test: int,
             rho_train: float, rho_test: float, seed: int) -> Dataset:
    if not core_bits > spurious_bits >= 1:
        raise ValueError(
            f"parity needs core_bits > spurious_bits >= 1 (the spurious feature must be the simpler one); "
            f"got core_bits={core_bits}, spurious_bits={spurious_bits}"
        )
    rng = np.random.default_rng(seed)
    train = make_split(n_train, core_bits, spurious_bits, noise_bits, rho_train, rng)
    test = make_split(n_test, core_bits, spurious_bits, noise_bits, rho_test, rng)
    metadata = dataset_metadata(
        "parity", source="procedural", parameters={"core_bits": core_bits, "spurious_bits": spurious_bits,
                                                   "noise_bits": noise_bits, "n_train": n_train, "n_test": n_test},
        rho_train=rho_train, rho_test=rho_test, seed=seed, num_classes=2, input_range=(-1.0, 1.0))
    return Dataset(train=train, test=test, metadata=metadata)
