"""Airtable's plan limits and the limits that apply to one tenant.

Facts (shared/reference/airtable.md §2, support.airtable.com "Managing API call limits",
Airtable's plans overview): records per base, all tables together: Free 1,000, Team 50,000,
Business 125,000, Enterprise Scale about 500,000; API calls per workspace per month: Free
1,000, Team 100,000, Business and Enterprise unlimited; 5 requests/s per base on every plan.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

REQUESTS_PER_SECOND_PER_BASE = 5
RECORDS_PER_WRITE = 10
RECORDS_PER_PAGE = 100

# plan -> (records per base, API calls per workspace per month or None for unlimited)
PLAN_LIMITS: dict[str, tuple[int, int | None]] = {
    "free": (1_000, 1_000),
    "team": (50_000, 100_000),
    "business": (125_000, None),
    "enterprise": (500_000, None),
}


@dataclass(frozen=True)
class Limits:
    """What Airtable allows one tenant: ``records_per_base`` (all tables of a base together),
    ``api_calls_per_month`` (per workspace, None = unlimited), ``requests_per_second_per_base``;
    ``plan`` and ``source`` (``"plan"`` or ``"explicit"`` when an override is set);
    ``margin`` the share of each base kept free and ``usable_records_per_base`` =
    floor(records_per_base × (1 − margin))."""

    plan: str
    records_per_base: int
    api_calls_per_month: int | None
    requests_per_second_per_base: int
    margin: float
    usable_records_per_base: int
    source: str

    def as_dict(self) -> dict:
        """JSON-able copy."""
        return asdict(self)

    @property
    def records_label(self) -> str:
        """``"the team plan's 50,000"`` or ``"the explicit limit of 100"`` (records per base)."""
        if self.source == "explicit":
            return f"the explicit limit of {self.records_per_base:,}"
        return f"the {self.plan} plan's {self.records_per_base:,}"


def tenant_limits(tenant, margin: float) -> Limits:
    """The limits of ``tenant`` (a ``server.utils.tenants.Tenant``): its plan's, replaced by its
    explicit ``airtable_max_records_per_base`` / ``airtable_max_api_calls_per_month`` when set.
    ``margin`` (0 ≤ margin < 1): ``AIRTABLE_CAPACITY_MARGIN``. Raises ``KeyError`` for an
    unknown plan (the database refuses those)."""
    records, calls = PLAN_LIMITS[tenant.airtable_plan]
    explicit = False
    if tenant.airtable_max_records_per_base:
        records, explicit = tenant.airtable_max_records_per_base, True
    if tenant.airtable_max_api_calls_per_month:
        calls, explicit = tenant.airtable_max_api_calls_per_month, True
    return Limits(tenant.airtable_plan, records, calls, REQUESTS_PER_SECOND_PER_BASE, margin,
                  int(records * (1 - margin)), "explicit" if explicit else "plan")
