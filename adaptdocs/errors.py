"""The one exception type the library raises for problems a user can fix."""


class AdaptdocsError(Exception):
    """A problem the user can act on; the CLI prints it as one line, without a traceback.

    Args:
        message: what went wrong.
        hint: what to do about it.
    """

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message
