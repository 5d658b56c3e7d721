"""Errors that reach the user as one line (exit status 2 from the command line)."""


class UsageError(ValueError):
    """Bad input: a config field, argument, path or checkpoint. The message names the field and what is allowed."""
