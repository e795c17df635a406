"""Operator commands, run as ``flask --app server.app <command>`` from the repository root."""
from __future__ import annotations

import re

import click
import psycopg
from flask import Flask, current_app

from server.migrate import apply_migrations
from server.utils import clock, tenants
from server.utils.outreach import capacity


def _print_capacity(services, tenant) -> None:
    """Print the tenant's Airtable capacity forecast (``capacity.describe``); a tenant without a
    base has none, and a forecast that cannot be made (Redis down) is reported, not raised: the
    change before it is already stored."""
    if not tenant.airtable_base_id:
        click.echo("no Airtable base: no capacity forecast")
        return
    try:
        lines = capacity.describe(capacity.forecast(services, tenant))
    except Exception as exc:  # noqa: BLE001 - the command's change is committed; say why there is no forecast
        click.echo(f"capacity forecast unavailable: {type(exc).__name__}: {exc}", err=True)
        return
    for line in lines:
        click.echo(line)


def _tenant_or_fail(conn, name: str):
    tenant = tenants.get_tenant_by_name(conn, name)
    if tenant is None:
        raise click.BadParameter(f"no tenant named {name!r}", param_hint="NAME")
    return tenant


def _change_bases(change, name: str, base_id: str) -> None:
    """Apply ``change(conn, tenant, base_id)`` (``tenants.add_base`` or ``tenants.remove_base``,
    returning the updated tenant) to tenant NAME in one transaction, then print its bases and
    capacity forecast. A refused change (``TenantBaseError``) is a usage error naming BASE_ID;
    an unknown tenant one naming NAME."""
    services = _services()
    try:
        with services.db.transaction() as conn:
            tenant = change(conn, _tenant_or_fail(conn, name), base_id)
    except tenants.TenantBaseError as exc:
        raise click.BadParameter(str(exc), param_hint="BASE_ID") from None
    click.echo(f"tenant {tenant.name} bases: {', '.join(tenant.base_ids)}")
    _print_capacity(services, tenant)


BASE_ID_RE = re.compile(r"app[A-Za-z0-9]{14}", re.ASCII)


def _base_id(ctx, param, value: str) -> str:
    """Click callback: an Airtable base id (``app`` + 14 letters or digits), else a usage error."""
    if not BASE_ID_RE.fullmatch(value):
        raise click.BadParameter("must be an Airtable base id: 'app' followed by 14 letters or digits")
    return value


def _tenant_name(ctx, param, value: str) -> str:
    """Click callback: a tenant name of 1–100 characters after trimming."""
    value = value.strip()
    if not 1 <= len(value) <= 100:
        raise click.BadParameter("must be 1 to 100 characters")
    return value


def _tenant_fields(conn, tenant) -> dict | None:
    """What create-tenant sets, by the words it reports changes in (None: no tenant)."""
    if tenant is None:
        return None
    stored = tenants.tenant_settings(conn, tenant.tenant_id)
    return {"base": stored["airtable_base_id"], "tables": stored["num_va_tables"],
            "per table": stored["profiles_per_table"],
            "daily run": stored["daily_run_utc"].strftime("%H:%M"), "plan": tenant.airtable_plan}


def _default_tenant(conn, services):
    """``tenants.ensure_default_tenant``; a ``ClickException`` naming ``AIRTABLE_BASE_ID`` when
    the settings would move the default tenant off a base that still holds live records."""
    try:
        return tenants.ensure_default_tenant(conn, services.settings)
    except tenants.TenantBaseError as exc:
        raise click.ClickException(f"AIRTABLE_BASE_ID: {exc}") from None


def _services():
    """The app's services; a ``ClickException`` with the configuration problems when the
    environment is incomplete (the app was built without settings, see ``create_app``)."""
    problem = current_app.extensions.get("settings_error")
    if problem is not None:
        raise click.ClickException(str(problem))
    return current_app.extensions["services"]


def register_cli(app: Flask) -> None:
    """Add the project's commands to ``app.cli``."""

    @app.cli.command("db-upgrade")
    def db_upgrade():
        """Apply pending migrations, then create or update the default tenant and print its
        Airtable capacity forecast (the lifecycle settings may have changed)."""
        services = _services()
        applied = apply_migrations(services.settings.database_url)
        with services.db.transaction() as conn:
            tenant = _default_tenant(conn, services)
        click.echo(f"migrations applied: {', '.join(applied) or 'none pending'}")
        click.echo(f"default tenant: {tenant.name} (base {tenant.airtable_base_id})")
        _print_capacity(services, tenant)

    @app.cli.command("create-tenant")
    @click.argument("name", callback=_tenant_name)
    @click.option("--base-id", required=True, callback=_base_id, help="Airtable base id (app + 14 characters).")
    @click.option("--tables", "num_va_tables", type=click.IntRange(1, 999), required=True)
    @click.option("--per-table", "profiles_per_table", type=click.IntRange(1, 10000), required=True)
    @click.option("--daily-run-utc", type=click.DateTime(["%H:%M"]), default="06:00", show_default=True,
                  help="When beat starts the tenant's run-daily each day (UTC, HH:MM).")
    @click.option("--plan", "airtable_plan", type=click.Choice(tenants.AIRTABLE_PLANS), default=None,
                  help="Airtable plan of the tenant's workspace (new tenants: team; existing: unchanged).")
    def create_tenant(name, base_id, num_va_tables, profiles_per_table, daily_run_utc, airtable_plan):
        """Create tenant NAME (or update its first base, campaign size, daily run time and plan),
        then print its Airtable capacity forecast."""
        services = _services()
        try:
            with services.db.transaction() as conn:
                before = _tenant_fields(conn, tenants.get_tenant_by_name(conn, name))
                tenant = tenants.upsert_tenant(conn, name, base_id, num_va_tables, profiles_per_table,
                                               daily_run_utc.time(), airtable_plan)
                after = _tenant_fields(conn, tenant)
        except tenants.TenantBaseError as exc:
            raise click.BadParameter(str(exc), param_hint="--base-id") from None
        except psycopg.errors.UniqueViolation:
            raise click.BadParameter(f"base {base_id} already belongs to another tenant",
                                     param_hint="--base-id") from None
        if before is None:
            click.echo(f"tenant {tenant.name} created: {tenant.tenant_id}")
        else:
            changes = [f"{label} {before[label]} -> {after[label]}" for label in after if before[label] != after[label]]
            click.echo(f"tenant {tenant.name} updated ({'; '.join(changes) or 'nothing changed'}): "
                       f"{tenant.tenant_id}")
        _print_capacity(services, tenant)

    @app.cli.command("airtable-plan")
    @click.argument("name")
    @click.option("--plan", "airtable_plan", type=click.Choice(tenants.AIRTABLE_PLANS), default=None,
                  help="Airtable plan of the tenant's workspace.")
    @click.option("--max-records-per-base", type=click.IntRange(1), default=None,
                  help="Explicit records per base (replaces the plan's).")
    @click.option("--max-api-calls-per-month", type=click.IntRange(1), default=None,
                  help="Explicit API calls per month of the workspace (replaces the plan's).")
    @click.option("--workspace", default=None,
                  help="Workspace name shared by tenants whose bases share one monthly API-call budget.")
    @click.option("--clear-limits", is_flag=True, help="Drop the explicit limits: the plan's apply again.")
    def airtable_plan_cmd(name, airtable_plan, max_records_per_base, max_api_calls_per_month, workspace,
                          clear_limits):
        """Set tenant NAME's Airtable plan or explicit limits, then print its capacity forecast."""
        services = _services()
        with services.db.transaction() as conn:
            tenant = tenants.set_airtable_limits(conn, _tenant_or_fail(conn, name).tenant_id, airtable_plan,
                                                 max_records_per_base, max_api_calls_per_month, workspace,
                                                 clear_limits)
        _print_capacity(services, tenant)

    @app.cli.command("add-base")
    @click.argument("name")
    @click.argument("base_id")
    def add_base(name, base_id):
        """Add Airtable base BASE_ID to tenant NAME (after its bases); new records of its share of
        the VA tables go there. Run base setup (POST /api/airtable/create-base) to create them."""
        _change_bases(tenants.add_base, name, base_id)

    @app.cli.command("remove-base")
    @click.argument("name")
    @click.argument("base_id")
    def remove_base(name, base_id):
        """Remove the extra base BASE_ID from tenant NAME (refused while it holds live records)."""
        _change_bases(tenants.remove_base, name, base_id)

    @app.cli.command("capacity")
    @click.argument("name", required=False)
    def capacity_cmd(name):
        """Print the Airtable capacity forecast of tenant NAME (default: the default tenant)."""
        services = _services()
        with services.db.transaction() as conn:
            tenant = _tenant_or_fail(conn, name or services.settings.default_tenant_name)
        _print_capacity(services, tenant)

    @app.cli.command("create-api-key")
    @click.option("--tenant", "tenant_name", default=None, help="Tenant name (default: the default tenant).")
    @click.option("--name", "label", default="", help="A label to recognise the key by.")
    def create_api_key(tenant_name, label):
        """Create an API key; the key alone is printed on the last line."""
        services = _services()
        with services.db.transaction() as conn:
            if tenant_name is None:
                tenant = _default_tenant(conn, services)
            else:
                tenant = tenants.get_tenant_by_name(conn, tenant_name)
                if tenant is None:
                    raise click.BadParameter(f"no tenant named {tenant_name!r}", param_hint="--tenant")
            key = tenants.create_api_key(conn, tenant, label)
        click.echo(f"API key for tenant {tenant.name} (shown once):")
        click.echo(key)

    def _named_tenant(services, name):
        with services.db.transaction() as conn:
            tenant = tenants.get_tenant_by_name(conn, name)
        if tenant is None:
            raise click.BadParameter(f"no tenant named {name!r}", param_hint="--tenant")
        return tenant

    @app.cli.command("clock-advance")
    @click.option("--tenant", "tenant_name", required=True, help="The tenant whose clock moves (only that one).")
    @click.option("--days", type=float, default=0.0, help="Days to move forward.")
    @click.option("--hours", type=float, default=0.0, help="Hours to move forward.")
    @click.option("--seconds", type=float, default=0.0, help="Seconds to move forward.")
    def clock_advance(tenant_name, days, hours, seconds):
        """Move one tenant's clock forward (development and test only): its API requests and jobs
        see the later time in every process; other tenants and the daily schedule keep real time."""
        services = _services()
        tenant = _named_tenant(services, tenant_name)
        try:
            offset = clock.advance(services, days * 86400 + hours * 3600 + seconds, tenant)
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"clock of tenant {tenant.name}: offset {offset:.0f} s; now "
                   f"{clock.utc_now(services, tenant).isoformat()} (real time elsewhere)")

    @app.cli.command("clock-reset")
    @click.option("--tenant", "tenant_name", default=None, help="Only this tenant (default: every tenant).")
    def clock_reset(tenant_name):
        """Put a tenant's clock (default: every tenant's) back to real time."""
        services = _services()
        tenant = _named_tenant(services, tenant_name) if tenant_name else None
        clock.reset(services, tenant)
        who = f"tenant {tenant.name}" if tenant else "every tenant"
        click.echo(f"clock reset for {who}; now {clock.utc_now(services, tenant).isoformat()}")

    @app.cli.command("revoke-api-key")
    @click.argument("key_prefix")
    def revoke_api_key(key_prefix):
        """Revoke the keys starting with KEY_PREFIX (the first 10 characters of a key)."""
        with _services().db.transaction() as conn:
            count = tenants.revoke_api_key(conn, key_prefix)
        if not count:
            raise click.ClickException(f"no active key starts with {key_prefix[:10]!r}")
        click.echo(f"revoked {count} key(s)")
