// A Channel chair takes a case from the cases list to exit entirely through the
// console's forms; a form sent empty shows the GOV.UK error summary; a form sent from a
// page opened before someone else's change changes nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PEOPLE, api, assertAccessible, assertPageFrame, caseAwaitingPanel, launch, screenshot, signedInPage, token,
} from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const today = new Date();
const inDays = (n) => new Date(today.getTime() + n * 86400000);

/// Fills the day, month and year of a GOV.UK date input whose fields start `prefix`.
async function fillDate(page, prefix, date) {
  await page.locator(`#${prefix}-day`).fill(String(date.getUTCDate()));
  await page.locator(`#${prefix}-month`).fill(String(date.getUTCMonth() + 1));
  await page.locator(`#${prefix}-year`).fill(String(date.getUTCFullYear()));
}

/// Opens the action's form (its details element) unless it is open already.
async function openForm(page, action) {
  const details = page.locator(`details#${action}`);
  await details.waitFor();
  if ((await details.getAttribute('open')) === null) {
    await details.locator('summary').click();
  }
  return details;
}

/// Submits the action's form and waits for the page that answers it.
async function submit(page, action) {
  await Promise.all([page.waitForNavigation(), page.locator(`#${action}-submit`).click()]);
}

/// The case's history as shown, one line per row.
async function historyRows(page) {
  return page.locator('#history tbody tr').allInnerTexts();
}

/// After an action: the success banner, the new state, and one more history row that
/// names the action.
async function assertDone(page, action, state, rowsBefore) {
  const words = action.replace(/_/g, ' ');
  const label = words[0].toUpperCase() + words.slice(1);
  // The answer is loaded already (submit waits for it): what it shows is final.
  const problems = await page.locator('.govuk-error-summary, .govuk-error-message').allInnerTexts();
  assert.deepEqual(problems, [], `${action}: no error`);
  assert.equal(await page.locator('.govuk-notification-banner--success').count(), 1, `${action}: the success banner`);
  assert.equal(await page.locator('#case-state').innerText(), state, `${action}: the case's state`);
  const rows = await historyRows(page);
  assert.equal(rows.length, rowsBefore + 1, `${action}: one more history entry`);
  assert.ok(
    rows.some((r) => r.split('\t').some((cell) => cell.trim() === label)),
    `${action}: the history shows "${label}"\n${rows.join('\n')}`,
  );
  return rows.length;
}

describe('a chair takes a case to exit through the forms', () => {
  let page;
  let filed;
  before(async () => {
    filed = await caseAwaitingPanel();
    page = await signedInPage(browser, PEOPLE.chair);
  });
  after(async () => {
    await page.context().close();
  });

  test('from the cases list to exit, one form at a time', async () => {
    await page.goto('/console/cases');
    const link = page.getByRole('link', { name: filed.reference, exact: true });
    await Promise.all([page.waitForURL(`**/console/cases/${filed.id}`), link.click()]);
    assert.equal(await page.locator('h1').innerText(), filed.reference);
    assert.equal(await page.locator('#case-state').innerText(), 'Awaiting panel');
    let rows = (await historyRows(page)).length;

    // A form sent with its required field empty: the error summary, focused, links to
    // the field, and the title says there is an error.
    await openForm(page, 'list_for_panel');
    await submit(page, 'list_for_panel');
    const summary = page.locator('.govuk-error-summary');
    await summary.waitFor();
    assert.match(await page.title(), /^Error: /, 'the title starts with "Error:"');
    assert.equal(
      await page.evaluate(() => document.activeElement?.classList.contains('govuk-error-summary')),
      true,
      'the error summary has the focus',
    );
    const errorLink = summary.locator('.govuk-error-summary__list a').first();
    const href = await errorLink.getAttribute('href');
    assert.match(href, /^#list_for_panel-meeting_id/, 'the summary links to the meeting field');
    assert.equal(await page.locator(href).count(), 1, `the summary's link ${href} reaches a field`);
    assert.equal(
      await page.locator('details#list_for_panel .govuk-form-group--error .govuk-error-message').count(),
      1,
      'the field shows its error beside it',
    );
    assert.equal(await page.locator('#case-state').innerText(), 'Awaiting panel', 'nothing changed');
    await assertPageFrame(page, 'a form with errors');
    await assertAccessible(page, 'a form with errors');
    await screenshot(page, 'form-errors');
    // Following the summary's link moves the focus to the field.
    await errorLink.click();
    assert.equal(await page.evaluate(() => `#${document.activeElement?.id}`), href);

    // List for panel, at the first meeting offered.
    await openForm(page, 'list_for_panel');
    await page.locator('#list_for_panel-meeting_id-0').check();
    await submit(page, 'list_for_panel');
    rows = await assertDone(page, 'list_for_panel', 'Panel listed', rows);

    // The panel adopts the case.
    await openForm(page, 'record_panel_decision');
    await page.locator('input[name="decision"][value="adopt"]').check();
    await page.locator('input[name="how_reached"][value="unanimous"]').check();
    await page.locator('input[name="reason_code"][value="vulnerability_identified"]').check();
    await page.locator('#record_panel_decision-rationale').fill('The panel found a vulnerability that support can address.');
    await submit(page, 'record_panel_decision');
    rows = await assertDone(page, 'record_panel_decision', 'Consent pending', rows);

    // The support plan (consent is to a plan, so it comes first).
    await openForm(page, 'record_support_plan');
    await page.locator('input[name="interventions.0.type"][value="ideological_mentoring"]').check();
    await page.locator('#record_support_plan-interventions-0-provider').fill('Approved intervention provider');
    await page.locator('#record_support_plan-interventions-0-frequency').fill('weekly');
    await fillDate(page, 'record_support_plan-interventions-0-start_date', today);
    await submit(page, 'record_support_plan');
    rows = await assertDone(page, 'record_support_plan', 'Consent pending', rows);
    assert.match(await page.locator('#support-plan').innerText(), /Ideological mentoring\s+Approved intervention provider\s+weekly/);

    // The person, an adult, consents.
    await openForm(page, 'record_consent');
    await page.locator('input[name="decision"][value="given"]').check();
    await page.locator('input[name="given_by"][value="subject"]').check();
    await page.locator('input[name="how_sought"][value="in_person"]').check();
    await fillDate(page, 'record_consent-decided_on', today);
    await submit(page, 'record_consent');
    rows = await assertDone(page, 'record_consent', 'Support', rows);
    assert.match(await page.locator('#consent').innerText(), /^Given, by subject/i);

    // A review.
    await openForm(page, 'record_review');
    await page.locator('#record_review-summary').fill('Engaging well with the mentor; attendance is good.');
    await fillDate(page, 'record_review-next_review_on', inDays(28));
    await submit(page, 'record_review');
    rows = await assertDone(page, 'record_review', 'Support', rows);

    // Exit.
    await openForm(page, 'exit');
    await page.locator('input[name="reason_code"][value="support_completed"]').check();
    await page.locator('#exit-rationale').fill('Support completed; the concerns are no longer present.');
    await submit(page, 'exit');
    rows = await assertDone(page, 'exit', 'Exited', rows);

    // The API agrees with what the pages showed.
    const after = await api('GET', `/v1/cases/${filed.id}`, token('CHAIR'));
    assert.equal(after.state, 'exited');
    const history = await api('GET', `/v1/cases/${filed.id}/history`, token('CHAIR'));
    const actions = (history.items ?? history).map((h) => h.action);
    for (const action of ['list_for_panel', 'record_panel_decision', 'record_consent', 'record_support_plan', 'record_review', 'exit']) {
      assert.ok(actions.includes(action), `the API's history has ${action}: ${actions.join(', ')}`);
    }
  });
});

describe('a form sent from a page opened before a change', () => {
  test('"this case has changed" and nothing changes', async () => {
    const filed = await caseAwaitingPanel();
    const first = await signedInPage(browser, PEOPLE.chair);
    // The same person, the same session, a second tab.
    const second = await first.context().newPage();
    await first.goto(`/console/cases/${filed.id}`);
    await second.goto(`/console/cases/${filed.id}`);

    await openForm(first, 'list_for_panel');
    await first.locator('#list_for_panel-meeting_id-0').check();
    await submit(first, 'list_for_panel');
    await assertDone(first, 'list_for_panel', 'Panel listed', (await historyRows(second)).length);
    const before = await api('GET', `/v1/cases/${filed.id}`, token('CHAIR'));
    const historyBefore = await api('GET', `/v1/cases/${filed.id}/history`, token('CHAIR'));

    // The second tab still shows the case awaiting panel; its correction form carries
    // the old version.
    await openForm(second, 'correct_details');
    await second.locator('#correct_details-reason').fill('The date of birth was typed wrongly.');
    await submit(second, 'correct_details');
    const message = second.locator('.govuk-error-summary');
    await message.waitFor();
    assert.match(await message.innerText(), /This case has changed since you opened it/);
    assert.equal(await second.locator('.govuk-notification-banner--success').count(), 0);
    await assertAccessible(second, 'the stale form message');

    const afterward = await api('GET', `/v1/cases/${filed.id}`, token('CHAIR'));
    const historyAfter = await api('GET', `/v1/cases/${filed.id}/history`, token('CHAIR'));
    assert.equal(afterward.version, before.version, 'the version is unchanged');
    assert.equal(afterward.state, 'panel_listed');
    assert.deepEqual(historyAfter, historyBefore, 'the history is unchanged');

    // Reloading shows the case as it is now.
    await Promise.all([second.waitForNavigation(), second.locator('#reload').click()]);
    assert.equal(await second.locator('#case-state').innerText(), 'Panel listed');
    await first.context().close();
  });
});
