"""The one plain HTTP request the clients make: etcd's GET /version (gRPC has no cluster version)."""

from __future__ import annotations

import urllib.error
import urllib.request

from ._cluster_ops import parse_version
from ._core import ClientCore
from ._errors import ConnectionFailed
from ._results import Version


def fetch_version(core: ClientCore, timeout: float | None) -> Version:
    """GET /version from the endpoint in use (blocking; AsyncClient runs it in a thread)."""
    url = core.version_url()
    # No proxy: urllib would send even 127.0.0.1 to $http_proxy.
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=core.ssl_context())
    )
    try:
        with opener.open(url, timeout=timeout or core.timeout) as response:
            return parse_version(response.read())
    except (urllib.error.URLError, OSError) as e:
        raise ConnectionFailed(f"could not read {url}: {e} (is etcd running? check --endpoints)") from None
