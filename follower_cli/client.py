"""A small HTTP client of the follower pipeline API: one ``requests.Session`` with the API key,
JSON in and out, and every failure turned into ``ApiFailure`` carrying the exit code the
command line returns for it."""
from __future__ import annotations

import requests

# Exit codes of the ``follower`` command (README "Command-line client").
OK = 0
JOB_FAILED = 1          # the job ended failed or cancelled
USAGE = 2               # bad arguments or a 400 from the API
UNAUTHORIZED = 3        # missing, invalid or revoked API key (401)
NOT_FOUND = 4           # unknown job or campaign (404)
CONFLICT = 5            # e.g. results asked before the job finished, a daily run already running (409)
RATE_LIMITED = 6        # 429
UNAVAILABLE = 7         # the service cannot be reached, or answered 5xx
PARTIAL = 8             # the job ended completed_with_errors

STATUS_EXIT = {400: USAGE, 401: UNAUTHORIZED, 403: UNAUTHORIZED, 404: NOT_FOUND, 409: CONFLICT,
               413: USAGE, 415: USAGE, 422: USAGE, 429: RATE_LIMITED}


class ApiFailure(Exception):
    """The API refused a request or could not be reached; ``exit_code`` and a readable message."""

    def __init__(self, message: str, exit_code: int, status: int | None = None, body: dict | None = None):
        super().__init__(message)
        self.exit_code, self.status, self.body = exit_code, status, body or {}


class Client:
    """Calls ``<api_url>/api/...`` with ``Authorization: Bearer <api_key>``; ``timeout`` seconds
    per request."""

    def __init__(self, api_url: str, api_key: str, timeout: float = 30.0):
        self.base = api_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {api_key}", "Accept": "application/json",
                                     "User-Agent": "follower-cli"})

    def request(self, method: str, path: str, *, json: dict | None = None, params: dict | None = None,
                stream: bool = False) -> requests.Response:
        """The response of a 2xx answer; ``ApiFailure`` for anything else."""
        try:
            response = self.session.request(method, self.base + path, json=json, params=params,
                                            timeout=self.timeout, stream=stream)
        except requests.RequestException as exc:
            raise ApiFailure(f"cannot reach {self.base}: {exc.__class__.__name__}", UNAVAILABLE) from None
        if response.ok:
            return response
        try:
            body = response.json()
            error = body.get("error", {})
            message = error.get("message") or response.reason
            details = error.get("details") or {}
            if details:
                message += " (" + "; ".join(f"{field}: {', '.join(map(str, reasons)) if isinstance(reasons, list) else reasons}"
                                            for field, reasons in details.items()) + ")"
        except ValueError:
            body, message = {}, response.reason or "error"
        code = STATUS_EXIT.get(response.status_code, UNAVAILABLE if response.status_code >= 500 else USAGE)
        raise ApiFailure(f"{response.status_code}: {message}", code, response.status_code, body)

    def get(self, path: str, **params) -> dict:
        """GET a JSON document (``None`` parameters are left out)."""
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None}).json()

    def post(self, path: str, body: dict | None = None) -> dict:
        """POST a JSON body and return the JSON answer."""
        return self.request("POST", path, json=body if body is not None else {}).json()
