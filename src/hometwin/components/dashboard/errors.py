"""Why the dashboard could not do what was asked; the routes turn each into its HTTP answer.

The views that only read never raise these: they show what failed in the page's `Status` instead.
"""

from __future__ import annotations


class DashboardError(Exception):
    """Base of the dashboard's errors."""


class UnknownAlert(DashboardError, LookupError):
    """No alert has this id (HTTP 404)."""

    def __init__(self, alert_id: str) -> None:
        super().__init__(f"no alert {alert_id!r}")
        self.alert_id = alert_id


class UnknownModelVersion(DashboardError, LookupError):
    """The registry holds no behaviour model of this version (HTTP 404)."""

    def __init__(self, version: str) -> None:
        super().__init__(f"no model version {version!r}")
        self.version = version


class AlertStoreUnavailable(DashboardError):
    """The alert store cannot be read or written right now; trying again later may work (HTTP 503)."""


class RegistryUnavailable(DashboardError):
    """The model registry cannot be read right now; trying again later may work (HTTP 503)."""
