"""joey as a service: the control plane over REST (``python -m joey.service``).

It calls ``joey.platform`` and owns nothing else: users, tokens and roles are
``joey.platform.accounts``; every other answer comes from the same SDK objects the embedded
client uses, acting as the signed-in user.
"""

from joey.service.app import create_app

__all__ = ["create_app"]
