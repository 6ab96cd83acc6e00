"""The project's own exception for files it cannot trust."""


class WeightsFileError(Exception):
    """A weights/checkpoint file is missing, damaged, or does not match the net.

    The message always names the file and the problem, so a user can act on it
    without a traceback.
    """

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
