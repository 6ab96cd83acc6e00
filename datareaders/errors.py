"""The data readers' own exception for files they cannot trust."""


class DataFileError(ValueError):
    """A data file is missing, damaged, or not in the expected format.

    A ``ValueError`` because the problem is the content (or absence) of an
    input, not an I/O fault of the machine. The message always names the file
    and the problem (and for a missing file, where to get it), so a user can
    act on it without reading a traceback. A reader raises this instead of
    returning an array it could not fully check.
    """

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
