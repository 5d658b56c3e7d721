"""Data sets: ``toy2d`` holds the 2-D distributions (mixtures, Swiss roll, Mescheder's manifolds, a Dirac)."""
