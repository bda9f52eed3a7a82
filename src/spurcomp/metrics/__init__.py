"""Metrics: pure functions on tensors and models, no Snakemake inside."""
