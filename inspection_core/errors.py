"""Errors that reach the user as one clear line (the CLI prints them without a traceback)."""


class AoiError(Exception):
    """Base class: a problem the user can act on; its message is shown as-is."""


class DataError(AoiError):
    """A dataset or image that cannot be used (missing folder, unreadable file, empty train set)."""


class ModelFileError(AoiError):
    """A saved model that cannot be loaded: corrupt, another model, or another format version."""


class UnknownModelError(AoiError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CancelledError(AoiError):
    """A long operation stopped because the user asked it to."""


class CameraError(AoiError):
    """A camera or frame source problem (cannot open, timeout, lost, unsupported pixel format)."""
