"""Exception types shared across the package."""


class AssertedValueError(ValueError, AssertionError):
    """A bad argument value that TorchTNT rejected with an ``assert``.

    It is a ValueError, the right type for a bad value, and also an AssertionError, so code
    written against TorchTNT that catches the latter keeps working.
    """
