// Keyboard only: a chair signs in and lists a case for panel with Tab, Shift+Tab,
// Enter, Space and the arrow keys, never the mouse; every element that takes the focus
// on the way shows that it has it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { AREA, PEOPLE, caseAwaitingPanel, launch, newContext } from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/// What has the focus, and whether a sighted keyboard user can see that it has: a
/// visible box and a focus indicator (an outline, a box shadow, or GOV.UK's yellow);
/// for a radio or a checkbox, whose input is drawn by its label, the label's ring.
function focusState() {
  const el = document.activeElement;
  if (!el || el === document.body) return { what: 'nothing', visible: false, indicated: false };
  const describe = (e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}${e.className ? `.${String(e.className).split(' ')[0]}` : ''} "${(e.innerText || e.value || '').trim().slice(0, 40)}"`;
  const checkable = el.matches('input[type=radio], input[type=checkbox]');
  const shown = checkable ? el.labels[0] : el;
  const rect = shown.getBoundingClientRect();
  const visible = rect.width > 0 && rect.height > 0 && getComputedStyle(shown).visibility !== 'hidden';
  const styles = checkable ? [getComputedStyle(shown, '::before')] : [getComputedStyle(el)];
  const indicated = styles.some((s) =>
    (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0)
    || (s.boxShadow && s.boxShadow !== 'none')
    || s.backgroundColor === 'rgb(255, 221, 0)');
  return { what: describe(el), id: el.id, tag: el.tagName.toLowerCase(), value: el.value, visible, indicated };
}

const steps = [];
/// Presses `key`, then checks the element that has the focus shows it.
async function press(page, key) {
  await page.keyboard.press(key);
  const state = await page.evaluate(focusState);
  steps.push(`${key} -> ${state.what}`);
  assert.ok(state.visible, `after ${key}, the focused ${state.what} is on screen`);
  assert.ok(state.indicated, `after ${key}, the focused ${state.what} has a focus style`);
  return state;
}

/// Presses Tab until `wanted` holds for the focused element (at most `limit` times).
async function tabTo(page, wanted, what, limit = 60) {
  for (let i = 0; i < limit; i += 1) {
    const state = await press(page, 'Tab');
    if (wanted(state)) return state;
  }
  assert.fail(`${what} was not reached in ${limit} presses of Tab:\n${steps.slice(-limit).join('\n')}`);
}

/// Presses `key` on the focused control and waits for the page it leads to.
async function pressAndWait(page, key, url) {
  await Promise.all([page.waitForURL(url), page.keyboard.press(key)]);
}

test('a chair signs in and lists a case for panel with the keyboard alone', async () => {
  const filed = await caseAwaitingPanel();
  const context = await newContext(browser);
  const page = await context.newPage();
  // Nothing may be clicked: any mouse button pressed fails the test.
  let clicks = 0;
  await page.exposeBinding('reportClick', () => { clicks += 1; });
  await context.addInitScript(() => {
    window.addEventListener('mousedown', () => window.reportClick(), true);
  });

  await page.goto('/console/sign-in');
  // The first Tab reaches the skip link.
  const skip = await press(page, 'Tab');
  assert.match(skip.what, /Skip to main content/);

  const chair = PEOPLE.chair;
  await tabTo(page, (s) => s.id === 'user', 'the user id field');
  await page.keyboard.type(chair.user);
  await press(page, 'Tab');
  await page.keyboard.type(chair.name);
  // Back and forth: Shift+Tab returns to the user id, which keeps what was typed.
  const back = await press(page, 'Shift+Tab');
  assert.equal(back.id, 'user');
  assert.equal(back.value, chair.user);
  await press(page, 'Tab');
  const email = await press(page, 'Tab');
  assert.equal(email.id, 'email');
  await page.keyboard.type(chair.email);
  const area = await press(page, 'Tab');
  assert.equal(area.id, 'area');
  await page.keyboard.type(AREA);
  await tabTo(page, (s) => s.tag === 'input' && s.value === 'channel_chair', 'the Channel chair checkbox');
  await page.keyboard.press('Space');
  assert.equal(await page.locator('input[name="roles"][value="channel_chair"]').isChecked(), true);
  await tabTo(page, (s) => s.id === 'sign-in', 'the sign-in button');
  await pressAndWait(page, 'Enter', '**/console/');
  await page.getByText(`Signed in as ${chair.name}`).waitFor();

  // To the cases list through the service menu, then to the case.
  await tabTo(page, (s) => /^a/.test(s.tag) && /"Cases/.test(s.what), 'the Cases link');
  await pressAndWait(page, 'Enter', '**/console/cases');
  await tabTo(page, (s) => s.what.includes(`"${filed.reference}"`), `the link to ${filed.reference}`, 120);
  await pressAndWait(page, 'Enter', `**/console/cases/${filed.id}`);
  assert.equal(await page.locator('#case-state').innerText(), 'Awaiting panel');

  // The "List for panel" form: open it, pick the first meeting with the arrow keys,
  // and send it.
  await tabTo(page, (s) => s.tag === 'summary' && /List for panel/.test(s.what), 'the List for panel form', 80);
  await page.keyboard.press('Enter');
  assert.notEqual(await page.locator('details#list_for_panel').getAttribute('open'), null, 'Enter opens the form');
  const radio = await tabTo(page, (s) => s.id === 'list_for_panel-meeting_id-0', 'the first meeting');
  assert.equal(radio.value.length > 0, true);
  await press(page, 'ArrowDown');
  assert.equal(await page.locator('#list_for_panel-meeting_id-1').isChecked(), true, 'ArrowDown picks the second meeting');
  const first = await press(page, 'ArrowUp');
  assert.equal(first.id, 'list_for_panel-meeting_id-0');
  assert.equal(await page.locator('#list_for_panel-meeting_id-0').isChecked(), true, 'ArrowUp picks the first again');
  await tabTo(page, (s) => s.id === 'list_for_panel-submit', 'the List for panel button', 5);
  await pressAndWait(page, 'Enter', `**/console/cases/${filed.id}?done=list_for_panel`);

  assert.equal(await page.locator('.govuk-notification-banner--success').count(), 1, 'the success banner');
  assert.equal(await page.locator('#case-state').innerText(), 'Panel listed');
  assert.match((await page.locator('#history tbody tr').allInnerTexts()).join('\n'), /List for panel/);
  assert.equal(clicks, 0, 'no mouse button was pressed');
  await context.close();
});
