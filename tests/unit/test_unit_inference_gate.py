"""The ingress's cached token answers: each refused request gets its own error."""

from __future__ import annotations

import asyncio
import hashlib
import time
import traceback

import pytest

from joey.deployments.inference_auth import InferenceGate
from joey.errors import PermissionDeniedError
from joey.spec import InferenceAuth


def test_a_cached_refusal_is_raised_afresh_each_time() -> None:
    gate = InferenceGate(InferenceAuth(check_url="http://127.0.0.1:9/never-asked", cache_s=3600), "ws")
    header = "Bearer joey_stranger"
    refused = PermissionDeniedError("infer", "the token's user is not in this pipeline's workspace")
    gate._known[hashlib.sha256(header.encode()).hexdigest()] = (time.monotonic() + 3600, refused)
    raised = []
    for _ in range(50):
        with pytest.raises(PermissionDeniedError) as caught:
            asyncio.run(gate.check(header))
        raised.append(caught.value)
    assert len({id(e) for e in raised}) == 50 and refused not in raised
    assert str(raised[-1]) == str(refused) and raised[-1].status == 403
    # the traceback is this raise's only, not one more frame per earlier refusal
    assert len(traceback.extract_tb(raised[-1].__traceback__)) == len(traceback.extract_tb(raised[0].__traceback__))
