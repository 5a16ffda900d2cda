"""Exceptions that the command line turns into one-line messages with an exit code.

Library code raises these (never ``assert``) for anything a user can get wrong; the CLI prints
``error: <message>`` and exits with :attr:`ArchbenchError.exit_code`, showing the traceback only with
``--debug``.
"""

from __future__ import annotations


class ArchbenchError(Exception):
    """Base class of every error archbench reports to a user."""

    exit_code = 1


class UsageError(ArchbenchError, ValueError):
    """Bad input from the user: an option, a name, a file."""

    exit_code = 2


class UnknownModelError(UsageError, KeyError):
    """A model name that is not registered; the message lists the closest names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InputTooSmallError(UsageError):
    """An input size below a model's minimum (its feature map would shrink to nothing)."""


class WeightsError(UsageError):
    """A weights file that is missing, unreadable, or does not fit the model."""


class ResultsFileError(UsageError):
    """A results file that is malformed or was not written by archbench."""
