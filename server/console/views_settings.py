"""Console settings: the tenant's VA tables, profiles per table and daily run time, and its API
keys (a new key is shown once, on the page that created it; keys can be revoked)."""
from __future__ import annotations

from datetime import time
from uuid import UUID

from flask import current_app, flash, g, redirect, render_template, request, session, url_for

from server.console.blueprint import bp
from server.console.session import services
from server.utils import tenants


FORM_FIELDS = ("num_va_tables", "profiles_per_table", "daily_run_utc")


def _page(form=None, errors=None, new_key=None, status=200):
    """The settings page; the form shows ``form`` (the submitted fields, any of them missing)
    or else the stored settings."""
    with services().db.transaction() as conn:
        current = tenants.tenant_settings(conn, g.tenant.tenant_id)
        keys = tenants.list_api_keys(conn, g.tenant.tenant_id)
    if form is None:
        shown = {**current, "daily_run_utc": current["daily_run_utc"].strftime("%H:%M")}
    else:
        shown = {name: form.get(name, "") for name in FORM_FIELDS}
    return render_template("console/settings.html", tenant=current, form=shown, errors=errors or {},
                           keys=keys, new_key=new_key, session_key_id=session.get("key_id")), status


@bp.get("/settings")
def settings_page():
    """The tenant's settings and API keys."""
    return _page()


def _int_field(name: str, low: int, high: int, errors: dict) -> int | None:
    text = request.form.get(name, "").strip()
    if not text.isdigit() or not low <= int(text) <= high:
        errors[name] = f"a whole number from {low} to {high:,}"
        return None
    return int(text)


@bp.post("/settings")
def save_settings():
    """Save VA tables (1–999), profiles per table (1–10,000) and the daily run time (HH:MM UTC)."""
    errors: dict[str, str] = {}
    tables = _int_field("num_va_tables", 1, 999, errors)
    per_table = _int_field("profiles_per_table", 1, 10000, errors)
    run_at = None
    try:
        run_at = time.fromisoformat(request.form.get("daily_run_utc", "").strip())
    except ValueError:
        errors["daily_run_utc"] = "a time as HH:MM (UTC)"
    if errors:
        return _page(form=request.form, errors=errors, status=400)
    with services().db.transaction() as conn:
        tenants.update_tenant_settings(conn, g.tenant.tenant_id, tables, per_table, run_at.replace(second=0))
    current_app.extensions["api_key_cache"].clear()  # cached keys carry the tenant's settings
    flash("Settings saved; they apply from the next campaign.", "ok")
    return redirect(url_for("console.settings_page"))


@bp.post("/settings/keys")
def create_key():
    """Create an API key for this tenant and show it once."""
    label = request.form.get("name", "").strip()[:100]
    with services().db.transaction() as conn:
        tenant = tenants.load_tenant(conn, g.tenant.tenant_id)
        key = tenants.create_api_key(conn, tenant, label)
    return _page(new_key={"key": key, "name": label})


@bp.post("/settings/keys/<uuid:api_key_id>/revoke")
def revoke_key(api_key_id: UUID):
    """Revoke one of this tenant's keys; revoking the key of this session signs out."""
    with services().db.transaction() as conn:
        revoked = tenants.revoke_tenant_key(conn, g.tenant.tenant_id, api_key_id)
    current_app.extensions["api_key_cache"].clear()  # this process at once; the others within API_KEY_CACHE_SECONDS
    if not revoked:
        flash("No such key of this tenant, or it was already revoked.", "warn")
    elif str(api_key_id) == session.get("key_id"):
        session.clear()
        flash("You revoked the key you signed in with, so you are signed out.", "warn")
        return redirect(url_for("console.sign_in"))
    else:
        flash("Key revoked.", "ok")
    return redirect(url_for("console.settings_page"))
