"""User-facing errors: the CLI turns these into one line on stderr and exit code 2."""


class VQVAEError(ValueError):
    """Bad input from the user (a missing file, a non-image, a wrong run dir, ...)."""


class DataError(VQVAEError):
    """A dataset or image could not be found, read or understood."""


class CheckpointError(VQVAEError):
    """A run directory or checkpoint is missing, incomplete or corrupt."""
