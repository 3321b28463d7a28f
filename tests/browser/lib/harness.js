// What every browser test needs: the served console's address, Debian's Chromium, the
// development sign-in as a person uses it, axe-core against WCAG 2.2 AA, and the API
// for setting a case up before it is looked at.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite with tests/browser/run.sh`);
  return value;
}

export const BASE = required('BROWSER_BASE_URL');
export const AREA = process.env.BROWSER_AREA || 'E08000035';
export const SCREENSHOTS = process.env.BROWSER_SCREENSHOTS || '';
export const DOWNLOADS = process.env.BROWSER_DOWNLOADS || '';
const CHROMIUM = process.env.BROWSER_CHROMIUM || '/usr/bin/chromium';

/// The seed's tokens (run.sh exports them), by the seed's variable name.
export function token(name) {
  return required(`BROWSER_TOKEN_${name}`);
}

/// The people of the seeded demo, as they sign in.
export const PEOPLE = {
  chair: { user: 'demo-chair', name: 'Chris Chair', email: 'chair@council.example', roles: ['channel_chair'] },
  member: { user: 'demo-member', name: 'Hana Health', email: 'health@nhs.example', roles: ['panel_member'] },
  auditor: { user: 'demo-auditor', name: 'Ann Auditor', email: 'auditor@council.example', roles: ['auditor'] },
  records: { user: 'demo-records', name: 'Rae Records', email: 'records@council.example', roles: ['records_officer'] },
};

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // No sandbox: CI runs as root, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

/// A fresh browser context (its own cookies) 1280 pixels wide.
export async function newContext(browser, options = {}) {
  return browser.newContext({ baseURL: BASE, viewport: { width: 1280, height: 900 }, ...options });
}

/// Signs in through the development sign-in page, as a person would, and lands on the
/// start page.
export async function signIn(page, person, { area = AREA } = {}) {
  await page.goto('/console/sign-in');
  await page.getByLabel('User id').fill(person.user);
  await page.getByLabel('Name', { exact: true }).fill(person.name);
  await page.getByLabel('Email address').fill(person.email);
  await page.getByLabel('Area').fill(area);
  for (const role of person.roles) {
    await page.locator(`input[name="roles"][value="${role}"]`).check();
  }
  await Promise.all([page.waitForURL(`${BASE}/console/`), page.locator('#sign-in').click()]);
  await assert.doesNotReject(
    page.getByText(`Signed in as ${person.name}`).waitFor(),
    'the account bar names the person signed in',
  );
}

/// A page signed in as `person` in a context of its own.
export async function signedInPage(browser, person, options = {}) {
  const context = await newContext(browser);
  const page = await context.newPage();
  await signIn(page, person, options);
  return page;
}

const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/// Runs axe-core in the page against WCAG 2.0, 2.1 and 2.2, levels A and AA, and
/// fails listing every violation (rule, help URL, and each element's selector).
export async function assertAccessible(page, what = page.url()) {
  const injected = await page.evaluate(() => typeof window.axe !== 'undefined');
  // Evaluated through the DevTools protocol, as the page's CSP (script-src 'self')
  // rightly refuses an inline script tag; the CSP stays in force for everything else.
  if (!injected) await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(() =>
    window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
      resultTypes: ['violations'],
    }),
  );
  const violations = results.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    helpUrl: v.helpUrl,
    targets: v.nodes.map((n) => n.target.join(' ')),
  }));
  if (violations.length > 0) {
    const text = violations
      .map((v) => `  ${v.id} (${v.impact}): ${v.help}\n    ${v.helpUrl}\n${v.targets.map((t) => `    - ${t}`).join('\n')}`)
      .join('\n');
    assert.fail(`${what}: ${violations.length} accessibility violation(s):\n${text}`);
  }
}

/// The GOV.UK page frame every console page has: a title, one h1, a skip link to the
/// main content, and the language.
export async function assertPageFrame(page, what = page.url()) {
  const title = await page.title();
  assert.match(title, /\S/, `${what}: the page has a title`);
  assert.equal(await page.locator('h1').count(), 1, `${what}: exactly one h1`);
  assert.equal(await page.locator('html').getAttribute('lang'), 'en', `${what}: lang="en"`);
  const skip = page.locator('a.govuk-skip-link');
  assert.equal(await skip.getAttribute('href'), '#main-content', `${what}: a skip link to the main content`);
  assert.equal(await page.locator('#main-content').count(), 1, `${what}: the skip link's target exists`);
}

/// Saves a full-page PNG of `page` as docs/screenshots/NAME.png.
export async function screenshot(page, name) {
  if (!SCREENSHOTS) return;
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/// A JSON API call with a bearer token; fails unless the status is `expect`.
export async function api(method, url, bearer, { body, expect = 200, headers = {} } = {}) {
  const response = await fetch(`${BASE}${url}`, {
    method,
    headers: {
      authorization: `Bearer ${bearer}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.equal(response.status, expect, `${method} ${url}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/// Takes a case action through the API with the case's version as If-Match.
export async function act(bearer, caseId, action, body = {}) {
  const current = await api('GET', `/v1/cases/${caseId}`, bearer);
  return api('POST', `/v1/cases/${caseId}/actions/${action}`, bearer, {
    body,
    headers: { 'if-match': `"${current.version}"` },
  });
}

let filed = 0;
/// Files a fresh synthetic referral in the demo's area and returns the case.
export async function fileReferral(marker = 'browser') {
  filed += 1;
  const today = new Date().toISOString().slice(0, 10);
  const body = {
    area: AREA,
    subject: {
      given_name: 'Browser',
      family_name: `Testcase${process.pid}x${filed}`,
      aliases: [],
      date_of_birth: '1990-05-17',
      gender: 'male',
      address: { line1: '1 Example Street', town: 'Exampletown', postcode: 'ZZ1 1ZZ' },
      first_language: 'English',
      interpreter_needed: false,
      school_or_employer: 'Example Works',
    },
    guardians: [],
    referrer: {
      name: 'Jo Example', role: 'Designated Safeguarding Lead', organisation: 'Example Academy',
      sector: 'education', email: 'jo@school.example', phone: '01130000000',
    },
    concern: {
      narrative: `Synthetic referral for the browser tests (${marker}).`,
      type_of_concern: 'mixed_unclear_unstable',
      indicators: ['online_activity'],
      first_noticed: today,
    },
    vulnerabilities: { send: false, mental_health: false, neurodiversity: false },
    subject_aware: false,
    guardians_informed: false,
    discussed_with_safeguarding_lead: true,
    other_agencies_involved: [],
    immediate_risk: false,
  };
  return api('POST', '/v1/referrals', token('REFERRER'), {
    body,
    expect: 201,
    headers: { 'idempotency-key': `browser-${process.pid}-${filed}-${Date.now()}` },
  });
}

/// A fresh referral taken by the Prevent officer through screening to Channel
/// (`awaiting_panel`), optionally with a police-only deconfliction note on the way.
export async function caseAwaitingPanel({ deconfliction } = {}) {
  const officer = token('OFFICER');
  const filedCase = await fileReferral();
  await act(officer, filedCase.id, 'begin_screening');
  if (deconfliction) {
    await act(officer, filedCase.id, 'record_deconfliction', { result: 'clear', note: deconfliction });
  }
  await act(officer, filedCase.id, 'refer_to_channel', {
    reason_code: 'vulnerable_to_radicalisation',
    rationale: 'Vulnerable to radicalisation; multi-agency support is needed.',
  });
  return filedCase;
}
