"""Assembles the code location: everything Dagster loads lives in `defs`."""

from __future__ import annotations

import os
import warnings

import dagster as dg

from xero_pipelines import assets
from xero_pipelines.assets.health import xero_connection, xero_health_sensor
from xero_pipelines.jobs.draft import xero_draft_job
from xero_pipelines.jobs.export import xero_export_job
from xero_pipelines.jobs.imports import (
    summaries_freshness_check,
    xero_import_job,
    xero_import_schedule,
    xero_summaries_freshness_sensor,
)
from xero_pipelines.resources.crm import CrmDatabase
from xero_pipelines.resources.xero import XeroResource
from xero_pipelines.sensors.requests import xero_draft_request_sensor, xero_export_request_sensor


def optional_env(name: str) -> dg.EnvVar | None:
    """`EnvVar(name)` when the variable is set, else None so the contract's default applies.

    Values read through `EnvVar` are resolved at run time and never shown in the UI.
    """
    return dg.EnvVar(name) if os.environ.get(name) else None


def build_resources() -> dict[str, dg.ConfigurableResource]:
    """The code location's resources, configured from the environment by variable name.

    One `CrmDatabase`, used by the assets as "crm" and by the Xero resource (tokens,
    settings) as its nested `crm`: one URL, so the two can never point at different
    databases.
    """
    crm = CrmDatabase(url=optional_env("CRM_DATABASE_URL"))
    return {
        "crm": crm,
        "xero": XeroResource(
            crm=crm,
            client_id=dg.EnvVar("XERO_CLIENT_ID"),
            client_secret=dg.EnvVar("XERO_CLIENT_SECRET"),
            api_url=optional_env("XERO_API_URL"),
            identity_url=optional_env("XERO_IDENTITY_URL"),
            login_url=optional_env("XERO_LOGIN_URL"),
            scopes=optional_env("XERO_SCOPES"),
        ),
    }


# Owners on jobs and sensors are a beta parameter in Dagster 1.13; the modules that set
# them hide the warning where they define them, and this hides it where Dagster copies
# them while it resolves `defs` (after this module ran). Only that warning.
warnings.filterwarnings("ignore", message="Parameter `owners` of ", category=dg.BetaWarning)

# Assets and their checks are picked up from the modules of `assets/`, so adding one is
# writing it; the external `xero_connection` (an AssetSpec, which the loader does not
# pick up), the freshness check that follows the schedule, jobs, schedules and sensors
# are few and named here.
defs = dg.Definitions(
    assets=[*dg.load_assets_from_package_module(assets), xero_connection],
    asset_checks=[*dg.load_asset_checks_from_package_module(assets), summaries_freshness_check],
    jobs=[xero_import_job, xero_export_job, xero_draft_job],
    schedules=[xero_import_schedule],
    sensors=[
        xero_export_request_sensor,
        xero_draft_request_sensor,
        xero_health_sensor,
        xero_summaries_freshness_sensor,
    ],
    resources=build_resources(),
)
