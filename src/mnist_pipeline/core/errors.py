"""The base of every error a user can cause and fix (bad params, bad data, missing device).

Stage scripts print these as one clear message and exit non-zero, without a traceback; any other
exception is a bug and keeps its traceback.
"""


class PipelineError(Exception):
    pass


class MissingInputError(PipelineError, FileNotFoundError):
    """A stage's input file is absent (usually: the stage before it has not run)."""
