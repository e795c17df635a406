"""Request and response schemas (marshmallow) of the daily-pipeline endpoints in
``server.api_outreach``. Unknown fields are rejected (marshmallow's default ``RAISE``), so a typo
is a 400 naming the field rather than a silently ignored option."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app, g
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from server.api_common import CappedList, JobAcceptedSchema, KeysetPageSchema, KeysetQuerySchema, StrictDate
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
        today = utc_now(current_app.extensions["services"], getattr(g, "tenant", None)).date()
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


class DayOverSchema(Schema):
    """The first run whose push (or month's calls) would pass a limit."""

    day = fields.Integer(metadata={"description": "1 = the next run"})
    date = fields.String(metadata={"description": "YYYY-MM-DD of that run"})
    records = fields.Integer()
    calls = fields.Integer()


class CapacityBaseSchema(Schema):
    """One base of the tenant in the capacity forecast."""

    base_id = fields.String()
    va_tables = fields.String(metadata={"description": "VA table numbers in this base, e.g. 1-40"})
    tables = fields.Integer()
    records_per_day = fields.Integer()
    steady_state_records = fields.Integer()
    peak_records = fields.Integer(metadata={"description": "most records forecast after a push"})
    live_records = fields.Integer(metadata={"description": "records the service has in the base now"})
    records_limit = fields.Integer(metadata={"description": "plan's records per base"})
    usable_records = fields.Integer(metadata={"description": "records_limit x (1 - AIRTABLE_CAPACITY_MARGIN)"})
    fits = fields.Boolean()
    first_day_over = fields.Nested(DayOverSchema, allow_none=True)
    api_calls_per_day = fields.Integer()


class CapacityApiCallsSchema(Schema):
    """The workspace's API calls in the capacity forecast."""

    per_day = fields.Integer()
    per_month = fields.Integer(metadata={"description": "per_day x 30"})
    month = fields.String()
    used_this_month = fields.Integer()
    cap = fields.Integer(allow_none=True, metadata={"description": "null: unlimited"})
    fits = fields.Boolean()
    first_day_over = fields.Nested(DayOverSchema, allow_none=True)


class CapacitySchema(Schema):
    """200 answer of ``GET /api/capacity``: the tenant's Airtable forecast against its limits."""

    success = fields.Boolean()
    tenant = fields.String()
    next_run_date = fields.String()
    settings = fields.Dict(metadata={"description": "va_tables, profiles_per_table, records_per_day, bases, "
                                                    "unfollow_after_days, delete_completed_after_hours, "
                                                    "expire_pending_after_days"})
    history = fields.Dict(metadata={"description": "followed_share, follow_runs, unfollow_runs, sample, source "
                                                   "(history or default)"})
    model = fields.Dict(metadata={"description": "followed_record_days, pending_record_days, average_record_days"})
    limits = fields.Dict(metadata={"description": "plan, records_per_base, api_calls_per_month, "
                                                  "requests_per_second_per_base, margin, usable_records_per_base, "
                                                  "source (plan or explicit)"})
    bases = fields.List(fields.Nested(CapacityBaseSchema))
    steady_state_records = fields.Integer()
    live_records = fields.Integer()
    api_calls = fields.Nested(CapacityApiCallsSchema)
    fits = fields.Boolean()
    stops_fitting = fields.Dict(allow_none=True, metadata={"description": "{day, date, reason} of the first "
                                                                         "limit passed, null when it fits"})
class CampaignsQuerySchema(KeysetQuerySchema):
    """Query of ``GET /api/campaigns``."""

    campaign_date = fields.Date(metadata={"description": "Only the campaign of this date (YYYY-MM-DD)."})


class StatusCountsSchema(Schema):
    """Rows of one VA table (or a whole campaign) per status."""

    pending = fields.Integer()
    followed = fields.Integer()
    unfollow = fields.Integer()
    completed = fields.Integer()
    archived = fields.Integer(metadata={"description": "removed from Airtable (completed, expired or deleted)"})


class CampaignSummarySchema(Schema):
    """A campaign in ``GET /api/campaigns``: its state, push status and per-VA-table counts."""

    campaign_id = fields.UUID()
    campaign_date = fields.String()
    status = fields.String(metadata={"description": "selected, distributed, pushing, pushed or failed"})
    va_tables = fields.Integer()
    profiles_per_table = fields.Integer()
    target = fields.Integer()
    total_selected = fields.Integer()
    warning = fields.String(allow_none=True)
    push_error = fields.String(allow_none=True)
    created_at = fields.String(allow_none=True)
    distributed_at = fields.String(allow_none=True)
    pushed_at = fields.String(allow_none=True)
    last_status_sync = fields.String(allow_none=True,
                                     metadata={"description": "when VA statuses were last read from Airtable"})
    totals = fields.Nested(StatusCountsSchema)
    tables = fields.Dict(keys=fields.String(), values=fields.Nested(StatusCountsSchema),
                         metadata={"description": "VA table number → counts"})
    unplaced = fields.Integer()


class CampaignListSchema(KeysetPageSchema):
    """A page of campaigns, newest date first."""

    campaigns = fields.List(fields.Nested(CampaignSummarySchema))


class PoolDaySchema(Schema):
    """One UTC day of the pool's history."""

    date = fields.String()
    added = fields.Integer(metadata={"description": "profiles added that day"})
    size = fields.Integer(metadata={"description": "pool size at the end of the day"})


class PoolSchema(Schema):
    """``GET /api/pool``: the tenant's pool of profiles."""

    success = fields.Boolean()
    size = fields.Integer()
    unused = fields.Integer(metadata={"description": "never handed to a campaign"})
    used = fields.Integer()
    by_gender = fields.Dict(keys=fields.String(), values=fields.Integer())
    unused_by_gender = fields.Dict(keys=fields.String(), values=fields.Integer())
    per_day = fields.List(fields.Nested(PoolDaySchema), metadata={"description": "the last 30 days, oldest first"})


class DailyRunsQuerySchema(KeysetQuerySchema):
    """Query of ``GET /api/daily-runs``."""



class RunStepSchema(Schema):
    """One step of a run-daily job."""

    name = fields.String()
    outcome = fields.String(metadata={"description": "ok, failed, skipped, cancelled (stopped part way by a cancel) or not_run"})
    summary = fields.Dict(metadata={"description": "what the step reported"})


class DailyRunSchema(Schema):
    """One run-daily job with each step's outcome."""

    job_id = fields.UUID()
    status = fields.String()
    progress = fields.Integer()
    campaign_date = fields.String(allow_none=True)
    campaign_id = fields.String(allow_none=True)
    created_at = fields.String()
    started_at = fields.String(allow_none=True)
    completed_at = fields.String(allow_none=True)
    error_message = fields.String(allow_none=True)
    failed_step = fields.String(allow_none=True)
    warning = fields.String(allow_none=True)
    steps = fields.List(fields.Nested(RunStepSchema))


class DailyRunListSchema(KeysetPageSchema):
    """A page of run-daily history, newest first."""

    runs = fields.List(fields.Nested(DailyRunSchema))
