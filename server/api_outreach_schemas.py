"""Request and response schemas (marshmallow) of the daily-pipeline endpoints in
``server.api_outreach``. Unknown fields are rejected (marshmallow's default ``RAISE``), so a typo
is a 400 naming the field rather than a silently ignored option."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from server.api_common import CappedList, JobAcceptedSchema, StrictDate
from server.utils.clock import utc_now

CAMPAIGN_DAYS_BACK = 7
CAMPAIGN_DAYS_AHEAD = 30


class ProfileId(fields.Field):
    """A platform id as a JSON string or integer (Instagram ids are numbers; many clients send
    them as strings). Whether it is digits only is checked later: a bad id rejects that profile
    (counted with its reason), not the whole request."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValidationError("must be a string or an integer")
        if isinstance(value, str) and len(value) > 100:
            raise ValidationError("longer than 100 characters")
        return value


class IngestProfileSchema(Schema):
    """One profile to ingest: ``id`` (platform id, digits), ``username``, ``full_name``."""

    id = ProfileId(required=True, metadata={"description": "Instagram platform id (digits)."})
    username = fields.String(required=True, validate=validate.Length(max=100))
    full_name = fields.String(load_default="", allow_none=True, validate=validate.Length(max=1000))


class IngestRequestSchema(Schema):
    """Body of ``POST /api/ingest``: exactly one of ``profiles`` or ``job_id``."""

    profiles = CappedList(fields.Nested(IngestProfileSchema), validate=validate.Length(min=1),
                          max_items=lambda: current_app.extensions["services"].settings.max_profiles_per_ingest,
                          metadata={"description": "At most MAX_PROFILES_PER_INGEST profiles."})
    job_id = fields.UUID(metadata={"description": "A finished scrape job whose kept profiles to ingest."})

    @validates_schema
    def _exactly_one_source(self, data, **kwargs):
        if "profiles" in data and "job_id" in data:
            raise ValidationError("give profiles or job_id, not both", "job_id")
        if "profiles" not in data and "job_id" not in data:
            raise ValidationError("give profiles (a list) or job_id (a finished scrape job)", "profiles")


class SelectionRequestSchema(Schema):
    """Body of ``POST /api/daily-selection`` and ``POST /api/run-daily``."""

    campaign_date = StrictDate(metadata={"description": "YYYY-MM-DD, from 7 days ago to 30 days ahead; "
                                                        "default today (UTC)."})
    profiles_per_table = fields.Integer(strict=True, validate=validate.Range(min=1, max=10000),
                                        metadata={"description": "Default: the tenant's setting."})

    @validates("campaign_date")
    def _plausible_date(self, value, **kwargs):
        today = utc_now(current_app.extensions["services"]).date()
        if not today - timedelta(days=CAMPAIGN_DAYS_BACK) <= value <= today + timedelta(days=CAMPAIGN_DAYS_AHEAD):
            raise ValidationError(f"must be between {CAMPAIGN_DAYS_BACK} days ago and "
                                  f"{CAMPAIGN_DAYS_AHEAD} days ahead of today ({today.isoformat()})")


class SelectionSchema(Schema):
    """200 answer of ``POST /api/daily-selection``."""

    success = fields.Boolean()
    campaign_id = fields.UUID(allow_none=True)
    campaign_date = fields.String()
    total_selected = fields.Integer()
    target = fields.Integer()
    va_tables = fields.Integer()
    profiles_per_table = fields.Integer()
    status = fields.String(metadata={"description": "campaign status, or 'empty' when nothing was "
                                                    "selected (no campaign stored)"})
    warning = fields.String()
    existing = fields.Boolean()


class DistributionSchema(Schema):
    """200 answer of ``POST /api/distribute/<campaign_id>``."""

    success = fields.Boolean()
    campaign_id = fields.UUID()
    va_tables = fields.Integer()
    assigned_per_table = fields.Dict(keys=fields.String(), values=fields.Integer())
    total_distributed = fields.Integer()
    status = fields.String()


class CampaignSchema(Schema):
    """A campaign with per-table status counts (``GET /api/campaigns/<campaign_id>``)."""

    success = fields.Boolean()
    campaign_id = fields.UUID()
    campaign_date = fields.String()
    status = fields.String()
    va_tables = fields.Integer()
    profiles_per_table = fields.Integer()
    target = fields.Integer()
    total_selected = fields.Integer()
    warning = fields.String(allow_none=True)
    created_at = fields.String(allow_none=True)
    distributed_at = fields.String(allow_none=True)
    pushed_at = fields.String(allow_none=True)
    tables = fields.Dict(keys=fields.String(), values=fields.Dict())
    unplaced = fields.Integer()


class DailyJobAcceptedSchema(JobAcceptedSchema):
    """202 answer of every daily endpoint that starts a job."""

    profiles_received = fields.Integer()
    profiles_accepted = fields.Integer()
    rejected_counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    rejected = fields.List(fields.Dict())
    campaign_date = fields.String()
