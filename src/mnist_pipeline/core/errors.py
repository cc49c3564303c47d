"""The errors a user can cause and fix: a stage prints them as one line, without a traceback."""


class PipelineError(Exception):
    pass


class MissingInputError(PipelineError, FileNotFoundError):
    """A stage's input file is absent (usually: the stage before it has not run)."""
