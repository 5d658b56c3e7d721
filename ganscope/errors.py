"""Errors that reach the user as one line (exit status 2 from the command line)."""


class UsageError(ValueError):
    """Bad input: a config field, argument, path or checkpoint. The message names the field and what is allowed."""


def check_int(value, flag: str, least: int) -> None:
    """Refuse anything but an integer >= ``least`` (numpy integers count, booleans do not), naming ``flag``."""
    from numbers import Integral

    if isinstance(value, bool) or not isinstance(value, Integral) or value < least:
        raise UsageError(f"{flag}: must be an integer >= {least}, got {value!r}")
