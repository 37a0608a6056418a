"""The client a service uses to call another one.

- a **deadline** per call: ``deadline`` seconds in all, retries and backoff included; each
  attempt's connect and read timeouts are cut to the time left, so a hung dependency (a process
  stopped, a host that accepts and never answers) costs the caller at most the deadline;
- bounded retries with exponential backoff, for idempotent methods only (a POST is never
  replayed behind the caller's back), and only while the deadline leaves time for one;
- a **circuit breaker** per client (one client per dependency and process): after
  ``breaker_failures`` failed calls in a row the dependency is not called for
  ``breaker_cooldown`` seconds, and every call fails at once;
- the incoming ``X-Request-ID`` and the caller's ``Authorization`` travel with the call, and
  when tracing is on (``common.tracing``) each attempt is a CLIENT span whose ``traceparent``
  travels too;
- a dependency that is down, too slow, answering 5xx, or whose breaker is open becomes
  ``DependencyUnavailable`` (503, code ``<name>_unavailable``); 4xx answers are returned for the
  caller to interpret.

Retries are this module's loop, not urllib3's ``Retry``: ``Retry`` counts attempts, and each
attempt gets the full timeouts again (three attempts of a 2 s read timeout held a request for
6.2 s when users hung); a deadline needs every attempt to know the time left.
"""

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from flask import current_app, has_request_context, request
from requests.adapters import HTTPAdapter

from common import tracing
from common.errors import DependencyUnavailable
from common.request_id import HEADER as REQUEST_ID_HEADER
from common.request_id import get_request_id

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Statuses worth another attempt: a proxy or the dependency saying "not now".
RETRY_STATUSES = frozenset({502, 503, 504})
# An attempt with less time left than this is not worth starting.
MIN_ATTEMPT_SECONDS = 0.05


class CircuitBreaker:
    """Stops calling a dependency that keeps failing, and lets one trial call through later.

    - **closed**: calls go through; ``failures`` failed calls in a row open it (a success
      resets the count);
    - **open**: ``allow()`` is False for ``cooldown`` seconds, so callers fail at once instead
      of each waiting out a deadline against a dependency known to be down;
    - **half-open**: after the cool-down, exactly one caller gets ``allow()`` True (the trial);
      the others are refused until it reports. Its success closes the breaker, its failure
      opens it for another cool-down.

    Thread-safe: one lock guards the state and is never held during the call itself (so
    concurrent calls to a healthy dependency are not serialised). Per process: each worker
    learns on its own, which costs each at most ``failures`` calls. ``failures <= 0`` disables
    it. (pybreaker, the kept library for this, holds its lock across the guarded call.)
    """

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"

    def __init__(self, failures: int = 5, cooldown: float = 5.0) -> None:
        self.failures = failures
        self.cooldown = cooldown
        self._lock = threading.Lock()
        self._state = self.CLOSED
        self._failed = 0  # consecutive failures while closed
        self._opened_at = 0.0  # time.monotonic() when it last opened

    @property
    def state(self) -> str:
        """closed, open or half-open (open past its cool-down reads open until a call tries)."""
        return self._state

    def allow(self) -> bool:
        """May a call go to the dependency now? True once per cool-down while open."""
        if self.failures <= 0:
            return True
        with self._lock:
            if self._state == self.CLOSED:
                return True
            if self._state == self.OPEN and self.retry_after() == 0:
                self._state = self.HALF_OPEN  # this caller is the trial
                return True
            return False

    def record(self, success: bool) -> None:
        """Report the outcome of a call that ``allow()`` let through."""
        if self.failures <= 0:
            return
        with self._lock:
            if success:
                self._state, self._failed = self.CLOSED, 0
                return
            self._failed += 1
            if self._state == self.HALF_OPEN or self._failed >= self.failures:
                if self._state != self.OPEN:
                    log.warning("circuit breaker opened for %.1f s", self.cooldown)
                self._state, self._opened_at = self.OPEN, time.monotonic()

    def retry_after(self) -> float:
        """Seconds until an open breaker lets a trial through (0 when it would now)."""
        return max(0.0, self._opened_at + self.cooldown - time.monotonic())

    def reset(self) -> None:
        """Close the breaker and forget past failures."""
        with self._lock:
            self._state, self._failed = self.CLOSED, 0


class ServiceClient:
    """Calls one dependency at ``base_url``; create one per dependency and reuse it."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        connect_timeout: float = 0.5,
        read_timeout: float = 2.0,
        deadline: float = 1.0,
        retries: int = 2,
        backoff: float = 0.1,
        breaker_failures: int = 5,
        breaker_cooldown: float = 5.0,
    ) -> None:
        """
        :param deadline: the most one call may take, retries and backoff included (seconds).
        :param retries: further attempts of an idempotent call, if the deadline leaves time.
        :param breaker_failures: failed calls in a row that open the breaker (0: no breaker).
        :param breaker_cooldown: seconds the open breaker refuses calls before a trial.
        """
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.deadline = deadline
        self.retries = retries
        self.backoff = backoff
        self.breaker = CircuitBreaker(breaker_failures, breaker_cooldown)
        self.session = requests.Session()
        # Calls stay inside the platform's network: a proxy configured for outbound traffic
        # (HTTP_PROXY, ...) must not capture them, and requests would otherwise look up the
        # proxy variables and ~/.netrc on every call.
        self.session.trust_env = False
        # max_retries=0: the attempts are ours (see the module's docstring).
        self.session.mount("http://", HTTPAdapter(max_retries=0, pool_maxsize=32))
        self.session.mount("https://", HTTPAdapter(max_retries=0, pool_maxsize=32))

    @classmethod
    def from_config(
        cls, name: str, base_url: str, config: Mapping[str, Any] | None = None
    ) -> "ServiceClient":
        """Build a client with the HTTP_* settings of ``config`` (or current_app's)."""
        config = current_app.config if config is None else config
        return cls(
            name,
            base_url,
            connect_timeout=config["HTTP_CONNECT_TIMEOUT"],
            read_timeout=config["HTTP_READ_TIMEOUT"],
            retries=config["HTTP_RETRIES"],
            # A service whose config predates these settings gets the defaults.
            deadline=config.get("HTTP_DEADLINE", 1.0),
            breaker_failures=config.get("HTTP_BREAKER_FAILURES", 5),
            breaker_cooldown=config.get("HTTP_BREAKER_COOLDOWN", 5.0),
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
        """Send a request within the deadline; failures raise DependencyUnavailable.

        Failures are: the breaker is open, a refused connection, a timeout, a 5xx answer.

        :param token: a bearer token to send instead of the caller's (service-to-service calls).
        """
        url = f"{self.base_url}{path}"
        if not self.breaker.allow():
            wait = max(1, round(self.breaker.retry_after()))
            raise DependencyUnavailable(self.name, headers={"Retry-After": str(wait)})
        success = False
        try:
            response = self._attempts(method, url, self._headers(headers, token), kwargs)
            success = response.status_code < 500
        except requests.RequestException as exc:
            log.warning("dependency %s unreachable: %s %s: %s", self.name, method, url, exc)
            raise DependencyUnavailable(self.name) from exc
        finally:
            # In every case, or a half-open breaker would wait forever for its trial's outcome.
            self.breaker.record(success)
        if not success:
            log.warning(
                "dependency %s answered %s: %s %s", self.name, response.status_code, method, url
            )
            raise DependencyUnavailable(self.name)
        return response

    def _attempts(
        self, method: str, url: str, headers: dict[str, str], kwargs: dict[str, Any]
    ) -> requests.Response:
        """Try until an answer worth keeping, the last retry, or the deadline."""
        ends = time.monotonic() + self.deadline
        retries = self.retries if method.upper() in IDEMPOTENT_METHODS else 0
        connect, read = self.timeout
        attempt = 0
        while True:
            left = ends - time.monotonic()
            timeout = (min(connect, left), min(read, left))
            try:
                # A CLIENT span per attempt, traceparent added, when tracing is on.
                response = tracing.send(
                    self.session.request,
                    method,
                    url,
                    headers=headers,
                    peer=self.name,
                    resend_count=attempt,
                    timeout=timeout,
                    **kwargs,
                )
                if response.status_code not in RETRY_STATUSES:
                    return response
                failure: requests.Response | Exception = response
            except (requests.ConnectionError, requests.Timeout) as exc:
                failure = exc
            pause = self.backoff * 2**attempt
            attempt += 1
            if attempt > retries or ends - time.monotonic() - pause < MIN_ATTEMPT_SECONDS:
                if isinstance(failure, Exception):
                    raise failure
                return failure
            if isinstance(failure, requests.Response):
                failure.close()  # its connection goes back to the pool
            time.sleep(pause)

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
