"""spurcomp: large learning rates, spurious correlations and compressibility, reproduced."""
__version__ = "0.1.0"
