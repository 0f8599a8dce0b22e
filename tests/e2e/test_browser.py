"""What an operator sees in the Dagster UI, in a real browser.

A Dagster instance gets real runs (an import, an export the request sensor asked for, a
draft Xero refused: tests/e2e/ui_runs.py); `dagster-webserver` serves it as a process on
a loopback port, and headless Chromium (Debian's, through Selenium) reads the rendered
pages: the asset graph names every asset of the code location, the sensor's run shows
the sensor's request tags, and the refused draft's run shows Xero's own words. The
screenshots it takes are the README's pictures (docs/img/), refreshed on every run.
"""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from tests.e2e.browser import Page, chromium, require_chromium
from tests.e2e.daemon import ROOT, prepare_home
from tests.e2e.helpers import connect, daemon_env, load_crm
from tests.e2e.ui_runs import make_runs
from tests.e2e.webserver import webserver_process

pytestmark = pytest.mark.slow

IMAGES = ROOT / "docs" / "img"
CHECKED_ASSET = "xero_account_summaries"  # its checks page is the README's check picture


def asset_names() -> list[str]:
    from xero_pipelines import defs

    keys = defs.resolve_asset_graph().get_all_asset_keys()
    return sorted(key.to_user_string() for key in keys)


def named_in_graph(text: str, names: list[str]) -> set[str]:
    """The assets the graph's node labels name: a label is the name, or the name cut in
    the middle with "…" when the node is small."""
    named = set()
    for label in (line.strip() for line in text.splitlines()):
        head, cut, tail = label.partition("…")
        for name in names:
            if name == label or (cut and name.startswith(head) and name.endswith(tail)):
                named.add(name)
    return named


def shown_tags(tags: dict[str, str]) -> list[str]:
    """The sensor's own tags as the tags dialog lists them (`key: value`); Dagster's
    `dagster/` tags are its own business to show."""
    return [f"{k}: {v}" for k, v in sorted(tags.items()) if not k.startswith("dagster/")]


# The instance is SQLite in DAGSTER_HOME; the CRM database does not change what the UI
# shows, so one backend is enough for the one browser session this test can afford.
@pytest.mark.parametrize("database_factory", ["sqlite"], indirect=True)
def test_operators_see_every_asset_the_request_tags_and_xeros_error(
    sandbox, db_url, db_engine, tmp_path, monkeypatch
):
    require_chromium()
    sandbox.seed(contacts=20, invoices=60, seed=11)
    connect(db_engine, sandbox.url, monkeypatch)
    load_crm(db_engine)
    home = prepare_home(tmp_path)
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))  # its storages
    env = daemon_env(db_url, sandbox.url, interval=30, batch=50)
    # The webserver and the browser start while this process makes the runs (the webserver
    # spends seconds loading the code location); the pages are read once both are done.
    with (
        webserver_process(home, env, tmp_path / "webserver.log") as server,
        chromium(tmp_path / "chromedriver.log") as driver,
    ):
        try:
            runs = make_runs(instance, db_engine, db_url, sandbox.url)
        finally:
            instance.dispose()
        tags = shown_tags(runs.export.sensor_tags)
        assert any(t.startswith("xero_pipelines/request_ids: ") for t in tags), tags
        names = asset_names()

        page = Page(driver, server.wait_until_loaded(), tmp_path)
        # No newsletter dialog over the pictures; the graph top-down, so it fits the width.
        page.remember({"communityNux": "1", "asset-graph-direction": "vertical"})

        # (a) the catalog lists every asset by name, and the graph draws a node for each
        page.open("/assets")
        page.wait_for_all(names, "every asset in the catalog")
        page.open("/asset-groups")
        page.wait_for("the asset groups", lambda text: "Materialize all" in text)
        expand_all_groups(page)
        page.driver.refresh()  # laid out again with the groups open, and fitted to the page
        page.wait_for("a node per asset", lambda text: named_in_graph(text, names) == set(names))
        page.screenshot(IMAGES / "asset-graph.png")

        # (b) the run the export sensor asked for shows the sensor's request tags
        page.open(f"/runs/{runs.export.run_id}")
        page.click_text("View tags and config")
        page.wait_for_all(tags, "the request tags of the export run")
        page.screenshot(IMAGES / "run-tags.png")

        # (c) the refused draft's run shows the row's sentence and Xero's own words
        page.open(f"/runs/{runs.draft.run_id}")
        page.wait_for_all([runs.refused_sentence, runs.xero_said], "Xero's error on the run")
        page.type_into("input[placeholder^='Filter']", "Xero said")  # what an operator types
        page.wait_for("only the refusal", lambda text: "RUN_SUCCESS" not in text)
        page.screenshot(IMAGES / "run-refused-draft.png")

        page.open(f"/assets/{CHECKED_ASSET}?view=checks")
        page.wait_for("the asset's checks", lambda text: "balances_match_xero" in text)
        page.wait_for("the latest evaluation", lambda text: "Passed" in text)
        page.screenshot(IMAGES / "asset-checks.png")


def expand_all_groups(page: Page) -> None:
    """Alt+E, the graph's "Expand all groups" shortcut, until the URL says the groups are
    open (the shortcut listens only once the graph's toolbar is drawn)."""
    page.until(
        "the groups expanded",
        lambda: "expanded=" in page.driver.current_url,
        nudge=lambda: page.press("e", alt=True),
    )
