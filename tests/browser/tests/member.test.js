// A panel member finds a case on their panel's agenda and adds their agency's note; an
// empty note is refused with the error summary and adds nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { PEOPLE, api, assertAccessible, launch, signedInPage, token } from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test("a panel member adds their agency's note to a case on the agenda", async () => {
  const page = await signedInPage(browser, PEOPLE.member);
  await page.goto('/console/cases');
  const link = page.locator('#agenda a[href^="/console/cases/"]').first();
  const reference = await link.innerText();
  await Promise.all([page.waitForURL(/\/console\/cases\/[0-9a-f-]+$/), link.click()]);
  assert.equal(await page.locator('h1').innerText(), reference);
  const id = page.url().split('/').pop();
  const notes = async () => (await api('GET', `/v1/cases/${id}`, token('MEMBER'))).notes?.length ?? 0;
  const before = await notes();

  // Empty: refused, with the summary linking to the field, and nothing added.
  await Promise.all([page.waitForNavigation(), page.locator('#note-submit').click()]);
  assert.match(await page.title(), /^Error: /);
  assert.equal(await page.locator('.govuk-error-summary a[href="#note-body"]').count(), 1);
  assert.equal(await notes(), before, 'an empty note adds nothing');
  await assertAccessible(page, 'the note form with errors');

  const text = `Health: known to the school nurse; no current mental-health referral (${Date.now()}).`;
  await page.getByLabel('Body').fill(text);
  await Promise.all([page.waitForNavigation(), page.locator('#note-submit').click()]);
  assert.equal(await page.locator('.govuk-error-summary').count(), 0);
  const shown = page.locator('.govuk-inset-text', { hasText: text });
  assert.equal(await shown.count(), 1, 'the note is shown on the case');
  assert.match(await shown.innerText(), /^Health,/, "the note carries the member's agency");
  assert.equal(await notes(), before + 1, 'the API has one more note');
  await page.context().close();
});
