"""The data layer's error, importable without torch (the CLI catches it before any data is read)."""


class DataSourceError(RuntimeError):
    """A dataset is missing or unreadable; the message names the files, the directory and the fix."""
