"""The errors a user can cause and fix: a stage prints them as one line, without a traceback."""


class PipelineError(Exception):
    pass


class MissingInputError(PipelineError, FileNotFoundError):
    """A stage's input file is absent (usually: the stage before it has not run)."""


def one_line(message: object, limit: int = 120) -> str:
    """``message`` (an error or a text) on one line, cut after ``limit`` characters."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[:limit] + "..."
