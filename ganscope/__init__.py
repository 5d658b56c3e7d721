"""ganscope: train GANs that converge, and see why they don't."""

__version__ = "0.1.0"  # the one source: pyproject.toml reads it (setuptools dynamic version)


def __getattr__(name):
    """``ganscope.Monitor`` (docs/monitor.md), imported on first use so that ``import ganscope`` stays light."""
    if name == "Monitor":
        from ganscope.monitor import Monitor

        return Monitor
    raise AttributeError(f"module 'ganscope' has no attribute {name!r}")
