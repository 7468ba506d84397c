"""prunebench: a reproducible benchmark of data-pruning scorers for image classifiers."""

__version__ = "0.1.0"
