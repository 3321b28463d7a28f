// Every page of the console's URL map, as each role that may see it: axe-core finds no
// WCAG 2.2 AA violation, and the page has the GOV.UK frame (title, one h1, a skip link
// to the main content, lang="en").
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PEOPLE, api, assertAccessible, assertPageFrame, launch, newContext, screenshot, signedInPage, token,
} from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/// Opens `url`, expects `status`, and checks the frame and axe.
async function check(page, url, { status = 200, what = url } = {}) {
  const response = await page.goto(url);
  assert.equal(response.status(), status, `${what}: HTTP status`);
  await assertPageFrame(page, what);
  await assertAccessible(page, what);
}

/// A case of the chair's in `state`, through the API.
async function caseIn(state) {
  const page = await api('GET', `/v1/cases?state=${state}`, token('CHAIR'));
  assert.ok(page.items.length > 0, `the seeded demo has a case in ${state}`);
  return page.items[0].id;
}

describe('signed out', () => {
  test('the sign-in page, and its errors', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    await check(page, '/console/sign-in');
    await screenshot(page, 'sign-in');
    // Nothing filled in: every field's error, in the summary and beside the field.
    await Promise.all([page.waitForLoadState('load'), page.locator('#sign-in').click()]);
    await page.locator('.govuk-error-summary').waitFor();
    assert.match(await page.title(), /^Error: /);
    await assertPageFrame(page, 'sign-in with errors');
    await assertAccessible(page, 'sign-in with errors');
    // A page that needs a session sends the visitor to sign in.
    await page.goto('/console/cases');
    assert.match(page.url(), /\/console\/sign-in/);
    await context.close();
  });
});

describe('as a Channel chair', () => {
  let page;
  before(async () => {
    page = await signedInPage(browser, PEOPLE.chair);
  });
  after(async () => {
    await page.context().close();
  });

  test('start page', async () => {
    await check(page, '/console/');
    await screenshot(page, 'start');
  });

  test('cases', async () => {
    await check(page, '/console/cases');
    await screenshot(page, 'cases');
  });

  for (const state of ['awaiting_panel', 'panel_listed', 'consent_pending', 'consent_refused', 'support', 'exited']) {
    test(`a case in ${state}, with its action forms`, async () => {
      const id = await caseIn(state);
      await check(page, `/console/cases/${id}`, { what: `case in ${state}` });
      // axe skips what is not rendered: each action's form is opened and checked too.
      const closed = page.locator('details.govuk-details:not([open]) > summary');
      const forms = await page.locator('details.govuk-details').count();
      while ((await closed.count()) > 0) await closed.first().click();
      assert.equal(await page.locator('details.govuk-details[open]').count(), forms);
      await assertAccessible(page, `case in ${state}, every form open`);
      if (state === 'awaiting_panel') {
        await page.evaluate(() => document.activeElement?.blur());
        await screenshot(page, 'case');
      }
    });
  }

  test('meetings, and a meeting', async () => {
    await check(page, '/console/meetings');
    const link = page.locator('main a[href^="/console/meetings/"]').first();
    await Promise.all([page.waitForURL(/\/console\/meetings\/[0-9a-f-]+$/), link.click()]);
    await check(page, page.url(), { what: 'a meeting' });
  });

  test('a page for another role is refused, accessibly', async () => {
    await check(page, '/console/audit', { status: 403 });
  });

  test('a page that does not exist', async () => {
    await check(page, '/console/no-such-page', { status: 404 });
  });

  test('signing out: the sign-in page says so', async () => {
    await page.goto('/console/');
    await Promise.all([page.waitForURL(/\/console\/sign-in/), page.locator('#sign-out').click()]);
    assert.match(await page.locator('.govuk-notification-banner--success').innerText(), /You have signed out/);
    await assertPageFrame(page, 'signed out');
    await assertAccessible(page, 'signed out');
    const response = await page.goto('/console/cases');
    assert.match(page.url(), /\/console\/sign-in/, 'the session has ended');
    assert.equal(response.status(), 200);
  });
});

describe('as a panel member', () => {
  let page;
  before(async () => {
    page = await signedInPage(browser, PEOPLE.member);
  });
  after(async () => {
    await page.context().close();
  });

  test('start page', async () => {
    await check(page, '/console/');
  });

  test("cases on the panel's agendas, and one of them with the note form", async () => {
    await check(page, '/console/cases');
    const link = page.locator('main a[href^="/console/cases/"]').first();
    await Promise.all([page.waitForURL(/\/console\/cases\/[0-9a-f-]+$/), link.click()]);
    await check(page, page.url(), { what: "a case on the member's agenda" });
    assert.equal(await page.locator('#note-submit').count(), 1, 'the member is offered the note form');
  });

  test('meetings, and a meeting', async () => {
    await check(page, '/console/meetings');
    const link = page.locator('main a[href^="/console/meetings/"]').first();
    await Promise.all([page.waitForURL(/\/console\/meetings\/[0-9a-f-]+$/), link.click()]);
    await check(page, page.url(), { what: "a member's meeting" });
  });
});

describe('as an auditor', () => {
  let page;
  before(async () => {
    page = await signedInPage(browser, PEOPLE.auditor);
  });
  after(async () => {
    await page.context().close();
  });

  test('start page', async () => {
    await check(page, '/console/');
  });

  test('a case', async () => {
    const id = await caseIn('support');
    await check(page, `/console/cases/${id}`, { what: "a case, as the auditor sees it" });
  });

  test('audit search, with results', async () => {
    await check(page, '/console/audit');
    await check(page, '/console/audit?action=case.action.refer_to_channel', { what: 'audit results' });
  });

  test('verification', async () => {
    await check(page, '/console/audit/verify');
  });

  test('statistics', async () => {
    await check(page, '/console/statistics');
  });
});

describe('as a national auditor', () => {
  let page;
  before(async () => {
    page = await signedInPage(browser, {
      user: 'demo-national-auditor', name: 'Nat National', email: 'assurance@homeoffice.example', roles: ['auditor'],
    }, { area: 'national' });
  });
  after(async () => {
    await page.context().close();
  });

  test('start, a case, audit search, verification and statistics', async () => {
    await check(page, '/console/');
    await check(page, `/console/cases/${await caseIn('exited')}`, { what: 'a case, nationally' });
    await check(page, '/console/audit?action=case.submit', { what: 'national audit results' });
    await check(page, '/console/audit/verify');
    await check(page, '/console/statistics');
  });
});

describe('as a records officer', () => {
  let page;
  before(async () => {
    page = await signedInPage(browser, PEOPLE.records);
  });
  after(async () => {
    await page.context().close();
  });

  test('start page', async () => {
    await check(page, '/console/');
  });

  test('retention reviews', async () => {
    await check(page, '/console/retention');
  });
});
