"""ganscope: train GANs that converge, and see why they don't."""

__version__ = "0.1.0"  # the one source: pyproject.toml reads it (setuptools dynamic version)
