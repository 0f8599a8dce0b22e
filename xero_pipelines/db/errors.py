"""Errors the database room raises with a message an operator can act on."""


class SchemaConflictError(RuntimeError):
    """A table already exists with a layout the contract cannot work with.

    Raised instead of altering or dropping it: the CRM's data is never clobbered.
    """
