"""The History screen: figures, calendar, trend chart, editing, deleting, exporting."""

import csv
import io
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.helpers_history import (
    earlier_today,
    live_rests,
    make_rest,
    now_utc,
    outbox,
    save_rests,
    stored_rests,
)
from tests.browser.helpers_pwa import wait_until
from tests.server_process import LiveServer


def seeded(page: Page, server: LiveServer) -> list[dict[str, Any]]:
    """Three rests (two today, one long ago) and one deleted rest; History open."""
    now = now_utc()
    rests = [
        make_rest(earlier_today(2000), 900, before=7, after=3, note="Shoulders wider."),
        make_rest(earlier_today(1000), 480, minutes=10, completed=False, before=6, after=5,
                  title="Leg slide"),
        make_rest(now - timedelta(days=400), 1200, minutes=20, before=8, after=4),
    ]
    gone = make_rest(earlier_today(700), 600, before=9, after=1)
    page.goto(server.url + "/history")
    save_rests(page, [*rests, gone])
    page.evaluate(
        "(id) => import('/js/rests.js').then((m) => m.deleteRest(id))", gone["id"]
    )
    page.reload()
    expect(page.locator(".rest-item")).to_have_count(3)
    return rests


def item(page: Page, rest: dict[str, Any]):  # type: ignore[no-untyped-def]
    return page.locator(f'.rest-item[data-id="{rest["id"]}"]')


class TestOverview:
    def test_figures_calendar_chart_and_list_show_the_recorded_rests(
        self, page: Page, live_server: LiveServer
    ):
        page.goto(live_server.url + "/")
        page.evaluate("import('/js/store.js').then((s) => s.setSetting('showStreaks', false))")
        seeded(page, live_server)

        # 900 s + 480 s today = 23 min; with the old 20-minute rest, 43 min in all.
        expect(page.locator("#week-minutes")).to_have_text("23 min")
        expect(page.locator("#month-minutes")).to_have_text("23 min")
        expect(page.locator("#rest-count")).to_have_text("3")
        expect(page.locator("#total-minutes")).to_have_text("43 min")
        # (3-7 + 5-6 + 4-8) / 3 = -3.0: easier after the rests.
        expect(page.locator("#average-change")).to_have_text("−3.0")
        expect(page.get_by_text("Streak", exact=True)).to_have_count(0)

        today = page.locator('.calendar td[aria-current="date"]')
        expect(today).to_contain_text("2 rests, 23 min")
        expect(page.locator(".calendar .cal-rested")).to_have_count(1)
        expect(page.locator("#cal-summary")).to_have_text(
            re.compile(r"^You rested on 1 day in \w+, 23 min in all\.$")
        )
        page.get_by_role("button", name="Previous month").click()
        expect(page.locator("#cal-summary")).to_have_text(re.compile(r"^No rests in \w+\.$"))

        chart = page.get_by_role("img", name=re.compile("Low back tension before and after"))
        label = chart.get_attribute("aria-label") or ""
        assert "your last 3 rated rests" in label
        assert "on average 7.0 before and 4.0 after" in label
        assert chart.locator("polyline").count() == 2

        expect(page.get_by_text("Completed")).to_have_count(2)
        expect(page.get_by_text("Partial")).to_have_count(1)
        expect(page.get_by_text("Low back: 7 before → 3 after")).to_be_visible()
        expect(page.get_by_text("Shoulders wider.")).to_be_visible()
        expect(page.get_by_text("8:00 of 10 min")).to_be_visible()
        # The deleted rest is nowhere: not in the list, the figures or the chart.
        expect(page.get_by_text("9 before → 1 after")).to_have_count(0)

    def test_days_are_local_days_of_the_rest(self, page: Page, live_server: LiveServer):
        page.goto(live_server.url + "/history")
        days = page.evaluate(
            """async () => {
              const { restDay } = await import('/js/stats.js');
              return [
                ['2026-02-28T11:30:00.000Z', 'Pacific/Auckland'],
                ['2026-03-01T04:30:00.000Z', 'America/Los_Angeles'],
                ['2026-03-01T04:30:00.000Z', 'UTC'],
              ].map(([started_at, time_zone]) => restDay({ started_at, time_zone }));
            }"""
        )
        # 00:30 on 1 March in Auckland; 20:30 on 28 February in Los Angeles.
        assert days == ["2026-03-01", "2026-02-28", "2026-03-01"]

    def test_streaks_are_off_by_default_and_shown_when_turned_on(
        self, page: Page, live_server: LiveServer
    ):
        page.goto(live_server.url + "/settings")
        toggle = page.get_by_label("Show streaks in History")
        expect(toggle).not_to_be_checked()
        today = earlier_today(700)
        save_rests(page, [make_rest(today - timedelta(days=1), 600), make_rest(today, 600)])
        page.goto(live_server.url + "/history")
        expect(page.locator("#rest-count")).to_have_text("2")
        expect(page.locator("#streak")).to_have_count(0)

        page.goto(live_server.url + "/settings")
        page.get_by_label("Show streaks in History").check()
        page.get_by_role("link", name="History").click()
        expect(page.locator("#streak")).to_have_text("2 days (best 2)")


class TestEditing:
    def test_note_and_rating_are_edited_and_queued_for_sync(
        self, page: Page, live_server: LiveServer
    ):
        first, *_ = seeded(page, live_server)
        item(page, first).get_by_role("button", name=re.compile("^Edit")).click()
        form = item(page, first).locator("form")
        form.get_by_label("After the rest").fill("2")
        form.get_by_label("Note").fill("Jaw softer, breath lower.")
        form.get_by_role("button", name="Save changes").click()

        expect(item(page, first).get_by_text("Low back: 7 before → 2 after")).to_be_visible()
        expect(item(page, first).get_by_text("Jaw softer, breath lower.")).to_be_visible()
        expect(page.locator("#average-change")).to_have_text("−3.3")
        [rest] = [r for r in stored_rests(page) if r["id"] == first["id"]]
        assert (rest["after_rating"], rest["note"]) == (2, "Jaw softer, breath lower.")
        assert rest["updated_at"] > first["updated_at"]
        # The change went through sync: its outbox mutation carries the edited record.
        puts = [m for m in outbox(page) if m["id"] == first["id"] and m["op"] == "put"]
        assert puts[-1]["rest"]["note"] == "Jaw softer, breath lower."
        assert puts[-1]["rest"]["after_rating"] == 2

        page.reload()
        expect(item(page, first).get_by_text("Low back: 7 before → 2 after")).to_be_visible()

    def test_delete_asks_first_then_removes_the_rest_everywhere_on_the_device(
        self, page: Page, live_server: LiveServer
    ):
        first, second, _ = seeded(page, live_server)
        item(page, second).get_by_role("button", name=re.compile("^Edit")).click()
        item(page, second).get_by_role("button", name="Delete this rest").click()
        dialog = page.get_by_role("dialog", name="Delete this rest?")
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="Keep it").click()
        expect(dialog).to_have_count(0)
        expect(item(page, second)).to_be_visible()

        item(page, second).get_by_role("button", name="Delete this rest").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete rest").click()
        expect(item(page, second)).to_have_count(0)
        expect(page.locator("#rest-count")).to_have_text("2")
        expect(page.locator("#week-minutes")).to_have_text("15 min")
        assert second["id"] not in {r["id"] for r in live_rests(page)}
        assert any(m["id"] == second["id"] and m["op"] == "delete" for m in outbox(page))
        page.reload()
        expect(page.locator(".rest-item")).to_have_count(2)
        expect(item(page, first)).to_be_visible()

    def test_a_rest_deleted_elsewhere_while_a_form_is_open_goes_when_it_closes(
        self, page: Page, live_server: LiveServer, tmp_path: Path
    ):
        first, second, third = seeded(page, live_server)
        item(page, first).get_by_role("button", name=re.compile("^Edit")).click()
        form = item(page, first).locator("form")
        form.get_by_label("Note").fill("Half typed")
        deleted_by_sync(page, second["id"])

        # The form keeps the typing; the export already leaves the deleted rest out.
        expect(form.get_by_label("Note")).to_have_value("Half typed")
        with page.expect_download() as download:
            page.get_by_role("button", name="Export CSV").click()
        csv_path = tmp_path / "history.csv"
        download.value.save_as(csv_path)
        rows = csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8"), newline=""))
        assert sorted(row["id"] for row in rows) == sorted([first["id"], third["id"]])

        form.get_by_role("button", name="Cancel").click()
        expect(item(page, second)).to_have_count(0)
        expect(page.locator("#rest-count")).to_have_text("2")
        expect(item(page, first).get_by_role("button", name=re.compile("^Edit"))).to_be_focused()

        # The rest being edited itself: gone once the form closes, focus back on the heading.
        item(page, first).get_by_role("button", name=re.compile("^Edit")).click()
        deleted_by_sync(page, first["id"])
        item(page, first).get_by_role("button", name="Cancel").click()
        expect(page.locator(".rest-item")).to_have_count(1)
        expect(page.get_by_role("heading", name="History")).to_be_focused()


def deleted_by_sync(page: Page, rest_id: str) -> None:
    """What a pull from another device does: a tombstone stored, then 'rests-changed'."""
    page.evaluate(
        """async (id) => {
          const { put } = await import('/js/store.js');
          await put('rests', { id, deleted: true });
          dispatchEvent(new Event('rests-changed'));
        }""",
        rest_id,
    )


class TestExport:
    def test_csv_and_json_are_made_on_the_device_even_offline(
        self, page: Page, context: BrowserContext, live_server: LiveServer, tmp_path: Path
    ):
        tricky = 'She said "let go", then\nthe floor took the weight, 1, 2'
        rests = seeded(page, live_server)
        page.evaluate(
            """([id, note]) => import('/js/rests.js').then((m) => m.updateRest(id, { note }))""",
            [rests[0]["id"], tricky],
        )
        page.reload()
        context.set_offline(True)

        with page.expect_download() as csv_download:
            page.get_by_role("button", name="Export CSV").click()
        assert re.fullmatch(r"rest-history-\d{4}-\d{2}-\d{2}\.csv",
                            csv_download.value.suggested_filename)
        csv_path = tmp_path / "history.csv"
        csv_download.value.save_as(csv_path)
        rows = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8"), newline="")))
        assert len(rows) == 3
        by_id = {row["id"]: row for row in rows}
        assert by_id.keys() == {r["id"] for r in rests}  # the deleted rest is not exported
        assert by_id[rests[0]["id"]]["note"] == tricky
        assert by_id[rests[1]["id"]]["completed"] == "false"
        assert by_id[rests[1]["id"]]["actual_s"] == "480"
        assert by_id[rests[2]["id"]]["started_at"] == rests[2]["started_at"]

        with page.expect_download() as json_download:
            page.get_by_role("button", name="Export JSON").click()
        json_path = tmp_path / "history.json"
        json_download.value.save_as(json_path)
        exported = json.loads(json_path.read_text(encoding="utf-8"))
        by_id_json = {rest["id"]: rest for rest in exported["rests"]}
        assert by_id_json.keys() == {r["id"] for r in rests}
        assert by_id_json[rests[0]["id"]]["note"] == tricky
        assert by_id_json[rests[1]["id"]] == {**rests[1]}

    def test_csv_cells_are_quoted_and_formulas_kept_as_text(
        self, page: Page, live_server: LiveServer
    ):
        page.goto(live_server.url + "/history")
        cells = page.evaluate(
            """async () => {
              const { csvCell } = await import('/js/export.js');
              return ['plain', 'a,b', 'say "hi"', 'two\\nlines', '=SUM(A1)', null, false]
                .map(csvCell);
            }"""
        )
        assert cells == ["plain", '"a,b"', '"say ""hi"""', '"two\nlines"', "'=SUM(A1)", "", "false"]


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_history_screenshots(
    page: Page, context: BrowserContext, live_server: LiveServer, artifacts_dir: Path, theme: str
):
    context.add_init_script(f"localStorage.setItem('crg-theme', '{theme}')")
    now = now_utc()
    history = [
        make_rest(now - timedelta(days=d, minutes=20), 900 - d * 20,
                  before=7 - d % 3, after=3 + d % 2,
                  note="Heavier on the floor." if d == 0 else "")
        for d in (0, 1, 3, 4, 6, 9)
    ]
    page.goto(live_server.url + "/history")
    save_rests(page, history)
    page.reload()
    expect(page.locator(".rest-item")).to_have_count(6)
    wait_until(page, "() => document.fonts.ready.then(() => true)")
    page.screenshot(path=artifacts_dir / f"history-overview-{theme}.png")
    page.get_by_role("heading", name="Your rests").scroll_into_view_if_needed()
    page.locator(".rest-item").first.get_by_role("button", name=re.compile("^Edit")).click()
    page.screenshot(path=artifacts_dir / f"history-edit-{theme}.png")
    page.locator(".rest-item").first.get_by_role("button", name="Delete this rest").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.screenshot(path=artifacts_dir / f"history-delete-{theme}.png")
