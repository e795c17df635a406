"""URL converters whose bad values are a 400 naming the path parameter, not a bare 404."""
from __future__ import annotations

from uuid import UUID

from werkzeug.exceptions import BadRequest
from werkzeug.routing import BaseConverter


class InvalidPathParameter(BadRequest):
    """A path parameter that cannot be parsed; ``field`` names it."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"invalid {field}: {reason}")
        self.field, self.reason = field, reason


class _UUIDConverter(BaseConverter):
    field = "id"

    def to_python(self, value: str) -> UUID:
        try:
            return UUID(value)
        except ValueError:
            raise InvalidPathParameter(self.field, "not a valid UUID") from None

    def to_url(self, value) -> str:
        return str(value)


class JobIdConverter(_UUIDConverter):
    """``<job_id:job_id>``: a job's UUID."""

    field = "job_id"


class CampaignIdConverter(_UUIDConverter):
    """``<campaign_id:campaign_id>``: a campaign's UUID."""

    field = "campaign_id"


CONVERTERS = {"job_id": JobIdConverter, "campaign_id": CampaignIdConverter}
