"""``mac.inference``: ``Inference`` (and ``ModelNotAssignedError``), re-exported from
``joey.runtimes.byop``."""

from joey.runtimes.byop import Inference, ModelNotAssignedError

__all__ = ["Inference", "ModelNotAssignedError"]
