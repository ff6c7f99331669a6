"""``mac.exceptions``: ``ModelNotAssignedError``, re-exported from ``joey.runtimes.byop``."""

from joey.runtimes.byop import ModelNotAssignedError

__all__ = ["ModelNotAssignedError"]
