"""Airtable error responses.

Every error the stand-in answers is raised as :class:`AirtableError` and rendered by
the app as ``{"error": {"type": TYPE, "message": MESSAGE}}`` (or the bare
``{"error": "NOT_FOUND"}`` form when ``message`` is ``None``), like the real API.
"""

INVALID_REQUEST_MESSAGE = "Invalid request: parameter validation failed. Check your request data."
NOT_FOUND_MESSAGE = "Could not find what you are looking for"
PERMISSIONS_MESSAGE = (
    "Invalid permissions, or the requested model was not found. Check that both your user "
    "and your token have the required permissions, and that the model names and/or ids are correct."
)

RATE_LIMIT_BODY = {
    "errors": [
        {"error": "RATE_LIMIT_REACHED", "message": "Rate limit exceeded. Please try again later"}
    ]
}


class AirtableError(Exception):
    """An Airtable API error: HTTP ``status``, error ``type`` and ``message``.

    ``message=None`` renders the bare ``{"error": TYPE}`` body.
    """

    def __init__(self, status: int, type_: str, message: str | None):
        super().__init__(f"{status} {type_}: {message}")
        self.status = status
        self.type = type_
        self.message = message

    def body(self) -> dict:
        """The JSON body Airtable would send for this error."""
        if self.message is None:
            return {"error": self.type}
        return {"error": {"type": self.type, "message": self.message}}


def invalid_request(message: str = INVALID_REQUEST_MESSAGE) -> AirtableError:
    """422 ``INVALID_REQUEST_UNKNOWN`` (bad parameters or body)."""
    return AirtableError(422, "INVALID_REQUEST_UNKNOWN", message)


def unknown_field(name: str) -> AirtableError:
    """422 ``UNKNOWN_FIELD_NAME`` for a field name that is not in the table."""
    return AirtableError(422, "UNKNOWN_FIELD_NAME", f'Unknown field name: "{name}"')


def record_not_found() -> AirtableError:
    """404 ``MODEL_ID_NOT_FOUND`` for single-record GET/PATCH/DELETE of a missing id."""
    return AirtableError(404, "MODEL_ID_NOT_FOUND", "Record not found")


def row_does_not_exist(record_id: str) -> AirtableError:
    """422 ``ROW_DOES_NOT_EXIST`` for a missing id inside a batch update."""
    return AirtableError(422, "ROW_DOES_NOT_EXIST", f"Record ID {record_id} does not exist in this table")


def base_not_found() -> AirtableError:
    """404 ``NOT_FOUND`` for an unknown base."""
    return AirtableError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)


def route_not_found() -> AirtableError:
    """404 bare ``{"error": "NOT_FOUND"}`` for an unknown route or method."""
    return AirtableError(404, "NOT_FOUND", None)


def table_not_found(base_id: str, table: str, status: int = 403) -> AirtableError:
    """Unknown table: 403 ``INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND`` (default, what personal
    access tokens get) or, with ``status=404``, 404 ``TABLE_NOT_FOUND``."""
    if status == 404:
        return AirtableError(404, "TABLE_NOT_FOUND", f"Could not find table {table} in application {base_id}")
    return AirtableError(403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", PERMISSIONS_MESSAGE)
