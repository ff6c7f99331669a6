"""The service process helpers live in ``tests/support/service_process.py`` (the SDK's own
tests run against the service too); this name stays for the service tests' imports."""

from support.service_process import (  # noqa: F401
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Service,
    start_service,
    stop_service,
)
