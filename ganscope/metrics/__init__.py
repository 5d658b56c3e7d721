"""Metrics: ``toy2d`` holds exact Wasserstein-1 and mode statistics for the 2-D data sets."""
