"""The client a service uses to call another one.

- connect and read timeouts on every call, so a dead dependency costs a bounded time;
- bounded retries with exponential backoff, for idempotent methods only (a POST is never
  replayed behind the caller's back);
- the incoming ``X-Request-ID`` and the caller's ``Authorization`` travel with the call;
- a dependency that is down, too slow or answering 5xx becomes ``DependencyUnavailable``
  (503, code ``<name>_unavailable``); 4xx answers are returned for the caller to interpret.
"""

import logging
from collections.abc import Mapping
from typing import Any

import requests
from flask import current_app, has_request_context, request
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from common.errors import DependencyUnavailable
from common.request_id import HEADER as REQUEST_ID_HEADER
from common.request_id import get_request_id

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class ServiceClient:
    """Calls one dependency at ``base_url``; create one per dependency and reuse it."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        connect_timeout: float = 0.5,
        read_timeout: float = 2.0,
        retries: int = 2,
        backoff: float = 0.1,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=backoff,
            allowed_methods=IDEMPOTENT_METHODS,
            status_forcelist=(502, 503, 504),
            # After the last try, hand back the 5xx response instead of raising MaxRetryError.
            raise_on_status=False,
            respect_retry_after_header=False,
        )
        self.session = requests.Session()
        # Calls stay inside the platform's network: a proxy configured for outbound traffic
        # (HTTP_PROXY, ...) must not capture them, and requests would otherwise look up the
        # proxy variables and ~/.netrc on every call.
        self.session.trust_env = False
        self.session.mount("http://", HTTPAdapter(max_retries=retry, pool_maxsize=32))
        self.session.mount("https://", HTTPAdapter(max_retries=retry, pool_maxsize=32))

    @classmethod
    def from_config(
        cls, name: str, base_url: str, config: Mapping[str, Any] | None = None
    ) -> "ServiceClient":
        """Build a client with the timeout and retry settings of ``config`` (or current_app's)."""
        config = current_app.config if config is None else config
        return cls(
            name,
            base_url,
            connect_timeout=config["HTTP_CONNECT_TIMEOUT"],
            read_timeout=config["HTTP_READ_TIMEOUT"],
            retries=config["HTTP_RETRIES"],
        )

    def _headers(self, extra: dict[str, str] | None, token: str | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        if has_request_context():
            headers[REQUEST_ID_HEADER] = get_request_id()
            incoming = request.headers.get("Authorization")
            if incoming:
                headers["Authorization"] = incoming
        if token:
            headers["Authorization"] = f"Bearer {token}"
        headers.update(extra or {})
        return headers

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request; 5xx, timeouts and refused connections raise DependencyUnavailable.

        :param token: a bearer token to send instead of the caller's (service-to-service calls).
        """
        url = f"{self.base_url}{path}"
        try:
            response = self.session.request(
                method,
                url,
                headers=self._headers(headers, token),
                timeout=self.timeout,
                **kwargs,
            )
        except requests.RequestException as exc:
            log.warning("dependency %s unreachable: %s %s: %s", self.name, method, url, exc)
            raise DependencyUnavailable(self.name) from exc
        if response.status_code >= 500:
            log.warning(
                "dependency %s answered %s: %s %s", self.name, response.status_code, method, url
            )
            raise DependencyUnavailable(self.name)
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET with retries."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        """POST, never retried."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        """PUT with retries (idempotent by definition)."""
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        """DELETE with retries."""
        return self.request("DELETE", path, **kwargs)
