"""Request and response schemas (marshmallow) of the job endpoints (``server.api_async``); they also feed the
OpenAPI description served at ``/api/docs/openapi.json``."""
from __future__ import annotations

from datetime import timezone

from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from webargs.fields import DelimitedList

from server.api_common import (CappedList, JobAcceptedSchema, KeysetPageSchema, KeysetQuerySchema,
                               NumberedPageQuerySchema, NumberedPageSchema, StrictBoolean, StrictNumber)
from server.utils.scrape.sources import FINAL_STATUSES

GENDERS = ("male", "female", "any")


class ScrapeRequestSchema(Schema):
    """Body of ``POST /api/scrape-followers``."""

    accounts = CappedList(fields.String(validate=validate.Length(min=1, max=300)), required=True,
                          max_items=lambda: current_app.extensions["services"].settings.max_accounts_per_request,
                          validate=validate.Length(min=1),
                          metadata={"description": "Source accounts: usernames, @names or profile URLs; "
                                                   "at most MAX_ACCOUNTS_PER_REQUEST."})
    targetGender = fields.String(load_default="any", validate=validate.OneOf(GENDERS))
    totalScrapeCount = fields.Integer(strict=True, validate=validate.Range(min=1, max=10_000_000),
                                      metadata={"description": "Stop once this many profiles are kept."})
    includeUnknown = StrictBoolean(load_default=True,
                                    metadata={"description": "Keep profiles whose gender is unknown."})
    minGenderProbability = StrictNumber(
        load_default=None, allow_none=True, validate=validate.Range(min=0.5, max=1.0),
        metadata={"description": "Count a gender guess only at this posterior probability or above "
                                 "(0.5-1.0); a weaker guess counts as unknown. Default: the detector's "
                                 "own operating point (0.75)."})
    maxCostUsd = StrictNumber(
        load_default=None, allow_none=True, validate=validate.Range(min=0.01, max=1_000_000),
        metadata={"description": "Spend at most this many USD: no Apify run starts whose worst case "
                                 "(maxItems x APIFY_PRICE_PER_RESULT_USD) passes what is left after the money "
                                 "spent and the worst cases of the runs going; a run's per-account limit and "
                                 "maxItems are lowered to fit. When not even one follower of each account of "
                                 "the next chunk fits, the job ends completed with result.stopped_by = "
                                 "cost_cap and its remaining sources skipped."})
    platform = fields.String(load_default="instagram", validate=validate.OneOf(["instagram"]))
    autoIngest = StrictBoolean(load_default=False,
                                metadata={"description": "Ingest kept profiles into the pool when done."})
    excludeSourceStatuses = fields.List(
        fields.String(validate=validate.OneOf(FINAL_STATUSES)), load_default=list,
        validate=validate.Length(max=len(FINAL_STATUSES)),
        metadata={"description": "Skip accounts whose last known status (GET /api/source-accounts) is one of "
                                 "these, e.g. [\"private\", \"not_found\"]: they are reported in `rejected` "
                                 "with that reason and never scraped or paid for."})


class ScrapeAcceptedSchema(JobAcceptedSchema):
    """202 answer of ``POST /api/scrape-followers``."""

    accounts_accepted = fields.Integer()
    accounts_rejected = fields.Integer()
    accounts_excluded = fields.Integer(metadata={"description": "rejected by excludeSourceStatuses"})
    duplicates_removed = fields.Integer()
    rejected = fields.List(fields.Dict())


class JobSchema(Schema):
    """A job as ``GET /api/job-status/<job_id>`` returns it."""

    success = fields.Boolean()
    job_id = fields.UUID()
    kind = fields.String()
    status = fields.String(metadata={"description": "queued, processing, completed, "
                                                    "completed_with_errors, failed or cancelled"})
    progress = fields.Integer()
    profiles_scraped = fields.Integer()
    items_read = fields.Integer()
    total_batches = fields.Integer()
    current_batch = fields.Integer()
    failed_batches = fields.Integer()
    accounts_total = fields.Integer()
    max_profiles = fields.Integer(allow_none=True)
    cost_usd = fields.Float()
    error_message = fields.String(allow_none=True)
    params = fields.Dict()
    result = fields.Dict(metadata={"description": "outcome; a scrape job that ended below totalScrapeCount has "
                                                  "below_target: {reason: sources_exhausted | per_account_limit | "
                                                  "cost_cap | cancelled | failed, kept, target, short_by, "
                                                  "sources_without_followers; with per_account_limit also "
                                                  "sources_at_limit and per_account_limit}"})
    sources = fields.Dict(keys=fields.String(), values=fields.Integer(),
                          metadata={"description": "scrape jobs: source accounts per status (ok, private, not_found, "
                                                   "empty, failed, skipped, pending); details at "
                                                   "/api/jobs/<job_id>/sources"})
    created_at = fields.String()
    started_at = fields.String(allow_none=True)
    completed_at = fields.String(allow_none=True)
    updated_at = fields.String()


class ResultsQuerySchema(NumberedPageQuerySchema):
    """Query of ``GET /api/job-results/<job_id>``."""

    cursor = fields.String(validate=validate.Length(max=64),
                           metadata={"description": "next_cursor of the previous page (keyset paging)"})
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))

    @validates_schema
    def _cursor_or_page(self, data, **kwargs):
        if "cursor" in data and data.get("page", 1) != 1:
            raise ValidationError("use either cursor or page, not both", "cursor")


class ProfileSchema(Schema):
    """One kept profile."""

    profile_id = fields.String()
    username = fields.String()
    full_name = fields.String()
    gender = fields.String()
    gender_probability = fields.Float()
    gender_source = fields.String(allow_none=True)
    source_account = fields.String(allow_none=True)
    is_private = fields.Boolean(allow_none=True)
    is_verified = fields.Boolean(allow_none=True)


class ResultsPageSchema(NumberedPageSchema):
    """A page of results."""

    profiles = fields.List(fields.Nested(ProfileSchema))
    next_cursor = fields.String(allow_none=True)


JOB_KINDS = ("scrape", "ingest", "run_daily", "airtable_push", "status_sync", "mark_unfollow",
             "delete_completed", "expire_pending", "create_base")
JOB_STATUSES = ("queued", "processing", "completed", "completed_with_errors", "failed", "cancelled")


class JobsQuerySchema(KeysetQuerySchema):
    """Query of ``GET /api/jobs``."""

    kind = fields.String(validate=validate.OneOf(JOB_KINDS))
    status = DelimitedList(fields.String(validate=validate.OneOf(JOB_STATUSES)),
                           metadata={"description": "One status or several separated by commas."})
    created_after = fields.AwareDateTime(default_timezone=timezone.utc,
                                         metadata={"description": "ISO 8601; jobs created at or after it."})
    created_before = fields.AwareDateTime(default_timezone=timezone.utc,
                                          metadata={"description": "ISO 8601; jobs created before it."})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))

    @validates_schema
    def _window(self, data, **kwargs):
        if data.get("created_after") and data.get("created_before") and data["created_after"] >= data["created_before"]:
            raise ValidationError("must be later than created_after", "created_before")


class JobItemSchema(JobSchema):
    """A job in a list (no ``success`` of its own)."""

    class Meta:
        exclude = ("success",)


class JobListSchema(KeysetPageSchema):
    """A page of jobs, newest first."""

    jobs = fields.List(fields.Nested(JobItemSchema))
