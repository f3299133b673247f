"""The caregiver's dashboard: now, today, routine, models, alerts (and the demo's e-mails).

`create_app(settings, *, source, registry, alert_store, clock=None, mail_dir=None)` builds it for
one home, `create_app(settings, homes=...)` for a fleet (a home list, each home's pages under
/h/<id>, caregiver accounts that see only their homes); docs/dashboard.md describes the pages, the
JSON API and the login.
"""

from hometwin.components.dashboard.app import create_app

__all__ = ["create_app"]
