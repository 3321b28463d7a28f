// The oversight roles: an auditor searches the audit log, pages through it, checks it is
// intact and reads the statistics; a records officer sees the retention reviews.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  DOWNLOADS, PEOPLE, api, assertAccessible, launch, screenshot, signedInPage, token,
} from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/// The audit results table's rows: [when, action, by, case, outcome].
async function entries(page) {
  return page.locator('#entries tbody tr').evaluateAll((rows) =>
    rows.map((r) => [...r.cells].map((c) => c.innerText.trim())),
  );
}

/// Parses CSV text (RFC 4180: quoted fields, doubled quotes, CRLF or LF).
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 1; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i += 1;
      row.push(field); rows.push(row); row = []; field = '';
    } else field += c;
  }
  assert.equal(quoted, false, 'the CSV closes every quote');
  if (field !== '' || row.length > 0) { row.push(field); rows.push(row); }
  return rows;
}

describe('an auditor', () => {
  let page;
  let caseId;
  before(async () => {
    // A case read more often than one page of results holds, so that its search pages.
    const support = await api('GET', '/v1/cases?state=support', token('CHAIR'));
    caseId = support.items[0].id;
    for (let i = 0; i < 55; i += 1) await api('GET', `/v1/cases/${caseId}`, token('AUDITOR'));
    page = await signedInPage(browser, PEOPLE.auditor);
  });
  after(async () => {
    await page.context().close();
  });

  test('searches by case and pages with "Next"', async () => {
    await page.goto('/console/audit');
    await page.getByLabel('Case id (optional)').fill(caseId);
    await Promise.all([page.waitForURL(/\/console\/audit\?/), page.locator('#search').click()]);
    await assertAccessible(page, 'audit results by case');
    await screenshot(page, 'audit');
    const first = await entries(page);
    assert.equal(first.length, 50, 'a full first page of entries');
    for (const row of first) assert.equal(row[3], caseId, `every entry is about the case: ${row.join(' | ')}`);

    const next = page.locator('#next-page');
    assert.equal(await next.count(), 1, 'a "Next" link');
    await Promise.all([page.waitForURL(/cursor=/), next.click()]);
    const second = await entries(page);
    assert.ok(second.length >= 5, `the second page goes on (${second.length} entries)`);
    for (const row of second) assert.equal(row[3], caseId, `every entry is about the case: ${row.join(' | ')}`);
    assert.ok(first.length + second.length >= 56, 'the 55 reads and the case\'s own entries are all listed');
    await assertAccessible(page, 'audit results, second page');
  });

  test('searches by action', async () => {
    await page.goto('/console/audit');
    await page.getByLabel('Action (optional)').fill('case.action.refer_to_channel');
    await Promise.all([page.waitForURL(/\/console\/audit\?/), page.locator('#search').click()]);
    const rows = await entries(page);
    assert.ok(rows.length >= 5, `the seeded referrals to Channel are found (${rows.length})`);
    for (const row of rows) assert.equal(row[1], 'case.action.refer_to_channel', row.join(' | '));
    // A date the calendar has not got: the error summary, linking to the field.
    await page.goto('/console/audit');
    await page.locator('#from-day').fill('31');
    await page.locator('#from-month').fill('2');
    await page.locator('#from-year').fill('2026');
    await Promise.all([page.waitForURL(/\/console\/audit\?/), page.locator('#search').click()]);
    assert.match(await page.title(), /^Error: /);
    assert.equal(await page.locator('.govuk-error-summary a[href="#from-day"]').count(), 1);
    assert.equal(await page.locator('#entries').count(), 0, 'no results for a wrong search');
    await assertAccessible(page, 'audit search with errors');
  });

  test('opens the verification page: intact', async () => {
    await page.goto('/console/audit/verify');
    assert.equal(await page.locator('#verdict h2').innerText(), 'The audit log is intact');
    const checked = await page.locator('.govuk-summary-list__row', { hasText: 'Entries checked' })
      .locator('dd').innerText();
    assert.ok(Number(checked) > 100, `entries were checked (${checked})`);
  });

  test('opens the statistics: tables, charts and the CSV download', async () => {
    await page.goto('/console/statistics');
    assert.equal(await page.locator('h1').innerText(), 'Statistics');
    assert.match(await page.locator('#period').innerText(), /E08000035/);
    const tables = page.locator('main table.govuk-table');
    const charts = page.locator('main svg[role="img"]');
    assert.ok((await tables.count()) >= 3, 'a table for each breakdown');
    assert.equal(await charts.count(), await tables.count(), 'a chart beside each table');
    // Every chart has a title and a description, and bars for the figures in its table.
    for (const chart of await charts.all()) {
      assert.match(await chart.locator('title').textContent(), /\S/);
      assert.match(await chart.locator('desc').textContent(), /The table beside it has the same figures/);
    }
    const bars = await page.locator('main svg[role="img"] rect').count();
    assert.ok(bars > 0, 'the seeded referrals are drawn');
    await screenshot(page, 'statistics');

    const csv = page.locator('main a#download-csv');
    assert.equal(await csv.count(), 1, 'the statistics page offers the CSV download');
    const [download] = await Promise.all([page.waitForEvent('download'), csv.first().click()]);
    const file = path.join(DOWNLOADS, download.suggestedFilename() || 'statistics.csv');
    await download.saveAs(file);
    const rows = parseCsv(readFileSync(file, 'utf8'));
    assert.ok(rows.length >= 2, 'a header row and at least one row of figures');
    assert.ok(rows[0].every((h) => /\S/.test(h) && !/^\d+$/.test(h)), `a header row: ${rows[0].join(',')}`);
    for (const row of rows.slice(1)) assert.equal(row.length, rows[0].length, `as many fields as the header: ${row.join(',')}`);
    assert.deepEqual(rows[0], ['from', 'to', 'area', 'breakdown', 'category', 'count', 'suppression_threshold']);
    assert.match(download.suggestedFilename(), /^pathway-statistics-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv$/);
  });
});

describe('a records officer', () => {
  test('sees the retention reviews page, and nothing of the case pages', async () => {
    const page = await signedInPage(browser, PEOPLE.records);
    const link = page.getByRole('link', { name: 'Retention reviews' }).first();
    await Promise.all([page.waitForURL('**/console/retention'), link.click()]);
    assert.equal(await page.locator('h1').innerText(), 'Retention reviews due');
    const table = page.locator('table#due');
    assert.match(await table.locator('caption').innerText(), /Cases whose review is due/);
    // The seeded demo's cases all closed today, years before any review: none is due,
    // and the page says so rather than showing an empty table.
    const rows = await table.locator('tbody tr').allInnerTexts();
    assert.ok(rows.length >= 1);
    const due = await api('GET', '/v1/retention/due', token('RECORDS'));
    if (due.items.length > 0) {
      assert.equal(rows.length, due.items.length, 'one row per review due');
    } else {
      assert.deepEqual(rows, ['No reviews are due.']);
    }
    await assertAccessible(page, 'retention reviews');
    const cases = await page.goto('/console/cases');
    assert.equal(cases.status(), 403, 'the case pages are not for records officers');
    await page.context().close();
  });
});
