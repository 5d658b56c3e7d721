"""Metrics: ``toy2d`` holds exact Wasserstein-1 and mode statistics for the 2-D data sets; ``images`` FID, KID and
precision/recall/density/coverage in the feature space of an extractor from ``extractors``."""
