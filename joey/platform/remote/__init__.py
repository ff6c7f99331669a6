"""The SDK in remote mode: ``joey.Client(api_endpoint="http://...")`` (or ``JOEY_URL`` /
``WALLAROO_URL``) talks to a joey service (``python -m joey.service``) over its REST API.

Its objects are the embedded SDK's own classes (``Workspace``, ``Model``, ``ModelVersion``,
``Pipeline``), built from the rows the service answers; only the methods that reach the store
or Ray go over HTTP instead, so both modes give the same answers. Inference goes over HTTP to
the pipeline's URL with the caller's bearer token, checked as any client's. What has no
endpoint yet raises ``NotSupportedRemotelyError`` naming the method.
"""

from joey.platform.remote.client import RemoteClient

__all__ = ["RemoteClient"]
