"""Where the scheduler should call this component: the base of every registered function's URL.

Order: PUBLIC_URL; else the course's Kubernetes convention (`<NAME>_SERVICE_HOST`/`_PORT`, NAME
from the pod's HOSTNAME `name-<replicaset>-<pod>`); else this host's address and the port from
PORT/UVICORN_PORT (default 8000). The choice is logged, because a wrong callback address is the
most common reason a registered function is never invoked.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from hometwin.sdk.log import child
from hometwin.sdk.settings import SdkSettings, with_scheme

log = child("gateway")

DEFAULT_PORT = 8000
_ANY_ADDRESS = {"", "0.0.0.0", "::", "[::]"}


@dataclass(frozen=True, slots=True)
class CallbackBase:
    url: str     # scheme://host:port, no trailing slash
    source: str  # why this address was chosen (logged)


def _kubernetes_service(environ: Mapping[str, str]) -> CallbackBase | None:
    if not environ.get("KUBERNETES_SERVICE_HOST") and not environ.get("KUBERNETES_SERVICE_PORT"):
        return None
    parts = environ.get("HOSTNAME", "").split("-")
    # Deployment pods are name-<replicaset hash>-<suffix>; StatefulSet pods are name-<ordinal>.
    for cut in (2, 1):
        name = "_".join(parts[:-cut]).upper()
        host, port = environ.get(f"{name}_SERVICE_HOST"), environ.get(f"{name}_SERVICE_PORT")
        if name and host and port:
            return CallbackBase(f"http://{_bracket(host)}:{port}",
                                f"Kubernetes service variables {name}_SERVICE_HOST/_SERVICE_PORT")
    log.warning("running in Kubernetes but no <NAME>_SERVICE_HOST/_PORT matches HOSTNAME=%r; "
                "set PUBLIC_URL", environ.get("HOSTNAME"))
    return None


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _host_address(settings: SdkSettings) -> str:
    if settings.host and settings.host not in _ANY_ADDRESS:
        return settings.host
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def callback_base(settings: SdkSettings, environ: Mapping[str, str] | None = None) -> CallbackBase:
    environ = os.environ if environ is None else environ
    if settings.public_url:
        return CallbackBase(with_scheme(settings.public_url), "PUBLIC_URL")
    service = _kubernetes_service(environ)
    if service is not None:
        return service
    port = settings.port or DEFAULT_PORT
    source = "host address and PORT/UVICORN_PORT" if settings.port else (
        f"host address and the default port {DEFAULT_PORT} (set PORT or PUBLIC_URL if uvicorn uses another)")
    return CallbackBase(f"http://{_bracket(_host_address(settings))}:{port}", source)
