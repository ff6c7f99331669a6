"""The service's quota endpoints (``joey.platform.quotas``), admins only: read the policy in
force with what is used of it, and set (or reset) the installation's policy at run time."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from joey.errors import InvalidRequestError, PermissionDeniedError
from joey.platform import quotas
from joey.platform.accounts import Principal
from joey.platform.context import Context
from joey.platform.quotas import QuotaPolicy
from joey.service.auth import API, Caller


class QuotasSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preset: str | None = Field(default=None, max_length=64,
                               description=f"the preset to start from: one of {list(quotas.PRESETS)} "
                                           "(default unlimited)")
    limits: QuotaPolicy | None = Field(
        default=None, description="limits on top of the preset; a limit given as null is lifted")
    reset: bool = Field(default=False, description="forget the admin's policy: JOEY_QUOTAS applies again")


def quota_routes(base: Context) -> APIRouter:
    """``admin/get_quotas`` and ``admin/set_quotas`` over ``base``'s store and settings."""
    router = APIRouter(tags=["admin"])
    default = base.settings.quotas
    quotas.from_setting(default)  # a bad JOEY_QUOTAS fails the service's start, naming it

    def admin(caller: Principal, action: str) -> None:
        if not caller.is_admin:
            raise PermissionDeniedError(action, "only an admin may")

    @router.post(f"{API}/admin/get_quotas")
    def get_quotas(caller: Caller) -> dict[str, Any]:
        """The quota policy in force (``preset``, ``source``: JOEY_QUOTAS or admin, each limit in
        ``policy``) and what is used of it (``usage``)."""
        admin(caller, "read the quotas")
        return quotas.report(base)

    @router.post(f"{API}/admin/set_quotas")
    def set_quotas(body: QuotasSet, caller: Caller) -> dict[str, Any]:
        """Set the installation's quota policy (kept in the store; it overrides JOEY_QUOTAS), or
        with ``reset`` forget it. What is already deployed stays; the limits refuse what would
        add to the use."""
        admin(caller, "set the quotas")
        if body.reset:
            if body.preset is not None or body.limits is not None:
                raise InvalidRequestError("reset: give either reset or preset and limits, not both")
            policy = quotas.reset_policy(base.store, default)
        else:
            limits = body.limits.model_dump(exclude_unset=True) if body.limits is not None else {}
            try:
                policy = quotas.set_policy(base.store, body.preset, limits, default)
            except ValueError as exc:
                raise InvalidRequestError(str(exc)) from None
        base.acting(caller.email).audit("quotas.set", "installation", "quotas", **policy.to_json())
        return quotas.report(base)

    return router


__all__ = ["quota_routes"]
