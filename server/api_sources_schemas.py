"""Request and response schemas (marshmallow) of the per-source report endpoints
(``server.api_sources``); they also feed the OpenAPI description."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.api_common import NumberedPageQuerySchema, NumberedPageSchema
from server.utils.scrape.source_report import ACCOUNT_SORTS, JOB_SORTS
from server.utils.scrape.sources import FINAL_STATUSES, STATUSES

STATUS_TEXT = ("ok: delivered followers; private / not_found: the actor's error item said so; empty: public "
               "but no follower and no error item in two runs (asked once more in a later run, never called "
               "private); failed: the run failed or the actor reported another error (rate limits are asked "
               "once more first); skipped: never read (totalScrapeCount reached or job cancelled); pending: "
               "not finished yet")


class JobSourcesQuerySchema(NumberedPageQuerySchema):
    """Query of ``GET /api/jobs/<job_id>/sources``."""

    status = fields.String(validate=validate.OneOf(STATUSES), metadata={"description": STATUS_TEXT})
    sort = fields.String(load_default="source_account", validate=validate.OneOf(sorted(JOB_SORTS)),
                         metadata={"description": "kept_target_* uses the job's targetGender (any: kept)"})
    order = fields.String(validate=validate.OneOf(["asc", "desc"]),
                          metadata={"description": "default: desc, asc for source_account; nulls last"})
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


class JobSourceSchema(Schema):
    """What one source account of a job gave."""

    source_account = fields.String()
    status = fields.String(metadata={"description": STATUS_TEXT})
    followers_read = fields.Integer(metadata={"description": "follower items of its list read from the dataset"})
    kept = fields.Integer(metadata={"description": "profiles it put into the job's results"})
    kept_female = fields.Integer()
    kept_male = fields.Integer()
    kept_unknown = fields.Integer()
    kept_target = fields.Integer(metadata={"description": "kept of the job's targetGender (all kept for any)"})
    duplicates = fields.Integer(metadata={"description": "followers that passed the filter but were already "
                                                         "kept from another source of the job"})
    over_cap = fields.Integer(metadata={"description": "followers that passed the filter after totalScrapeCount "
                                                       "was reached (kept by nobody); such a source's per-dollar "
                                                       "figures understate it"})
    error_items = fields.Integer(metadata={"description": "error, placeholder and unusable items"})
    cost_usd = fields.Float(metadata={"description": "its share of its runs' cost, split by dataset items"})
    kept_female_per_usd = fields.Float(allow_none=True)
    kept_male_per_usd = fields.Float(allow_none=True)
    kept_target_per_usd = fields.Float(allow_none=True)
    runs = fields.Integer(metadata={"description": "Apify runs that asked for it (2 after a retry)"})
    error = fields.String(allow_none=True, metadata={"description": "the actor's own message, or why it gave nothing"})
    finished_at = fields.String(allow_none=True)


class JobSourcesPageSchema(NumberedPageSchema):
    """A page of a job's sources."""

    job_id = fields.UUID()
    job_status = fields.String()
    target_gender = fields.String()
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(),
                         metadata={"description": "source accounts per status over the whole job"})
    sources = fields.List(fields.Nested(JobSourceSchema))


class SourceAccountsQuerySchema(NumberedPageQuerySchema):
    """Query of ``GET /api/source-accounts``."""

    status = fields.String(validate=validate.OneOf(FINAL_STATUSES),
                           metadata={"description": "filter on the last known status"})
    sort = fields.String(load_default="source_account", validate=validate.OneOf(sorted(ACCOUNT_SORTS)))
    order = fields.String(validate=validate.OneOf(["asc", "desc"]),
                          metadata={"description": "default: desc, asc for source_account; nulls last"})


class SourceAccountSchema(Schema):
    """One source account of the tenant, over every job that scraped it."""

    source_account = fields.String()
    last_status = fields.String(metadata={"description": "its status in the last job that settled it"})
    last_error = fields.String(allow_none=True)
    last_job_id = fields.String()
    last_scraped_at = fields.String(allow_none=True)
    jobs = fields.Integer()
    followers_read = fields.Integer()
    kept = fields.Integer()
    kept_female = fields.Integer()
    kept_male = fields.Integer()
    kept_unknown = fields.Integer()
    duplicates = fields.Integer()
    over_cap = fields.Integer()
    cost_usd = fields.Float()
    kept_female_per_usd = fields.Float(allow_none=True)
    kept_male_per_usd = fields.Float(allow_none=True)


class SourceAccountsPageSchema(NumberedPageSchema):
    """A page of the tenant's source accounts."""

    source_accounts = fields.List(fields.Nested(SourceAccountSchema))
