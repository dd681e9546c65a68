"""The one error type the command-line tools turn into a single clear line."""


class LabError(Exception):
    """A problem the user can fix: bad input, a busy port, a server that did not start."""
