"""One exception tree for the package.

Every error says where (file, layer, field, config key, row id), what was expected, what was
found and how to fix it. Validation collects all problems of a layer and raises one error.
"""

from __future__ import annotations


class GisError(Exception):
    """Base of all errors the tool raises on bad input or an impossible request."""


class ConfigError(GisError):
    """config.toml (or an override) is wrong: the message names the key."""


class RegistryError(GisError):
    """A province or commune is unknown to the administrative registry."""


class LayerError(GisError):
    """An input layer is unreadable or fails validation.

    Parameters
    ----------
    source : str
        File (and layer) the problems were found in.
    problems : list of str
        One line per problem, each naming field, row ids and how to fix it.
    """

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{source}: {n} problem{'s' if n != 1 else ''} found"
        super().__init__(head + "\n" + "\n".join(f"  - {p}" for p in self.problems))


class PlanError(LayerError):
    """A plan file fails validation (all problems listed)."""


class NetworkError(LayerError):
    """A referral or satellite network fails validation (all problems listed)."""


class SolveError(GisError):
    """A location model is infeasible or the solver failed; the message gives the reason."""


class OutputError(GisError):
    """An output cannot be written (exists without --overwrite, unwritable folder)."""


class InputErrors(GisError):
    """Several inputs have problems, found together before any analysis ran.

    Parameters
    ----------
    errors : list of GisError
        One error per input (file, config key), each listing its own problems.
    """

    def __init__(self, errors: list[GisError]):
        self.errors = list(errors)
        head = f"{len(self.errors)} inputs have problems (nothing was computed or written)"
        super().__init__(head + "\n" + "\n".join(str(e) for e in self.errors))


def combine(errors: list[GisError]) -> GisError:
    """One error for ``errors``: itself when there is one, else :class:`InputErrors`."""
    return errors[0] if len(errors) == 1 else InputErrors(errors)
