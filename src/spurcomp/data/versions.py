"""Each dataset generator's version, bumped whenever what it builds changes (corrupted_cifar10 2: the CIFAR-10-C
snow, fog and frost, and whole grey levels; celeba 2: the stand-in's hair cue subtle, its beard salient). It is in every dataset file's metadata (and so in the identity of the
runs trained on it) and in the dataset job's params, so a file built by an older version is rebuilt, never
trusted as current. No imports: the DAG reads it."""
GENERATOR_VERSIONS = {
    "parity": 1,
    "moonstar": 1,
    "colored_mnist": 1,
    "corrupted_cifar10": 2,
    "mnist_cifar": 1,
    "double_mnist": 1,
    "waterbirds": 1,
    "celeba": 2,
    "cifar10": 1,
    "cifar100": 1,
    "imagenet": 1,
}
