// Nothing leaks: police-only material (deconfliction, a transfer to Pursue) never
// reaches a panel member's or an auditor's page (an auditor reads a transfer as a
// police-led closure), and a chair of another area is told a case of this area does not
// exist.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AREA, PEOPLE, act, api, assertAccessible, assertPageFrame, caseAwaitingPanel, launch, signedInPage, token,
} from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const POLICE_ONLY_ACTIONS = ['record_deconfliction', 'transfer_to_pursue'];
// Words of police-only material as a page would spell them.
const POLICE_ONLY_WORDS = /deconfliction|live investigation|transfer(red)? to pursue|pursue/i;

/// Every case of the area, as the Prevent officer sees them, with its history.
async function officersCases() {
  const officer = token('OFFICER');
  const cases = [];
  let cursor = '';
  do {
    const page = await api('GET', `/v1/cases?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, officer);
    cases.push(...page.items);
    cursor = page.next_cursor ?? '';
  } while (cursor);
  for (const c of cases) {
    const history = await api('GET', `/v1/cases/${c.id}/history`, officer);
    c.actions = (history.items ?? history).map((h) => h.action);
  }
  return cases;
}

describe('police-only material', () => {
  const marker = `CT-unit-ref-${process.pid}-${Date.now()}`;
  let shared;
  let pursued;
  before(async () => {
    // A case that went to Channel after a deconfliction check, listed at a meeting of
    // the demo panel (whose members include the health member signing in below).
    shared = await caseAwaitingPanel({ deconfliction: `Checked with the regional CT unit, ${marker}.` });
    const panels = await api('GET', '/v1/panels', token('CHAIR'));
    const panel = await api('GET', `/v1/panels/${panels[0].id}`, token('CHAIR'));
    const meeting = panel.meetings.find((m) => new Date(m.scheduled_for) > new Date());
    await act(token('CHAIR'), shared.id, 'list_for_panel', { meeting_id: meeting.id });

    // The police see the material, so it is there to leak.
    const policeView = JSON.stringify([
      await api('GET', `/v1/cases/${shared.id}`, token('OFFICER')),
      await api('GET', `/v1/cases/${shared.id}/history`, token('OFFICER')),
    ]);
    assert.ok(policeView.includes(marker), 'the Prevent officer sees the deconfliction note');

    // The seeded demo's case with police-only history: found through the API as the
    // Prevent officer.
    const cases = await officersCases();
    const police = cases.filter((c) => c.actions.some((a) => POLICE_ONLY_ACTIONS.includes(a)));
    assert.ok(police.some((c) => c.id === shared.id), 'the officer finds the deconfliction case');
    pursued = police.find((c) => c.state === 'transferred_to_pursue');
    assert.ok(pursued, 'the seeded demo has a case transferred to Pursue');
  });

  for (const who of ['member', 'auditor']) {
    test(`${who === 'member' ? 'a panel member' : 'an auditor'} sees none of it`, async () => {
      const page = await signedInPage(browser, PEOPLE[who]);

      const response = await page.goto(`/console/cases/${shared.id}`);
      assert.equal(response.status(), 200, 'the case is shown');
      assert.equal(await page.locator('h1').innerText(), shared.reference);
      const html = await page.content();
      assert.ok(!html.includes(marker), 'the deconfliction note is not in the page');
      assert.doesNotMatch(html, POLICE_ONLY_WORDS, 'nothing police-only is named in the page');
      const history = await page.locator('#history tbody tr').allInnerTexts();
      assert.ok(history.some((r) => /List for panel/.test(r)), 'the shared history is shown');
      assert.ok(history.every((r) => !/deconfliction/i.test(r)), `no deconfliction entry:\n${history.join('\n')}`);

      if (who === 'member') {
        // The case transferred to Pursue was never on their panel's agenda: it does not
        // exist for them, nor does any list of theirs name it.
        const hidden = await page.goto(`/console/cases/${pursued.id}`);
        assert.equal(hidden.status(), 404, 'the Pursue case is answered 404');
        const hiddenHtml = await page.content();
        assert.ok(!hiddenHtml.includes(pursued.reference), 'its reference is not shown');
        assert.doesNotMatch(hiddenHtml, POLICE_ONLY_WORDS);
        await page.goto('/console/cases');
        const listHtml = await page.content();
        assert.ok(!listHtml.includes(pursued.reference) && !listHtml.includes(pursued.id), 'the cases list does not name the Pursue case');
      } else {
        // An auditor saw the case while it was screened: it does not vanish, it reads as
        // a police-led closure, and nothing on the page or in its audit trail says more.
        const masked = await page.goto(`/console/cases/${pursued.id}`);
        assert.equal(masked.status(), 200, 'the case is still there');
        const maskedHtml = await page.content();
        assert.doesNotMatch(maskedHtml, POLICE_ONLY_WORDS, 'nothing police-only is named in the page');
        const rows = await page.locator('#history tbody tr').allInnerTexts();
        assert.ok(rows.some((r) => /Close/.test(r)), `it reads as closed by police:\n${rows.join('\n')}`);
        await page.goto(`/console/audit?case_id=${pursued.id}`);
        assert.ok(await page.locator('#entries').count() > 0, 'its shared audit entries are listed');
        const trail = await page.content();
        assert.match(trail, /case\.action\.close/, 'the transfer reads as a police-led closure');
        assert.doesNotMatch(trail, POLICE_ONLY_WORDS, 'nothing police-only is in its audit trail');

        await page.goto(`/console/audit?case_id=${shared.id}`);
        const audit = await page.content();
        assert.ok(audit.includes('case.action.list_for_panel'), "the case's shared audit entries are listed");
        assert.doesNotMatch(audit, /record_deconfliction/, 'the deconfliction entry is not');
      }
      await page.context().close();
    });
  }
});

describe('another area', () => {
  test("a chair of another area is told a case of this area does not exist", async () => {
    const other = AREA === 'E08000025' ? 'E08000035' : 'E08000025';
    const id = (await api('GET', '/v1/cases?state=awaiting_panel', token('CHAIR'))).items[0].id;
    const page = await signedInPage(browser, { ...PEOPLE.chair, user: 'other-chair', name: 'Olive Otherarea' }, { area: other });
    const response = await page.goto(`/console/cases/${id}`);
    assert.equal(response.status(), 404);
    await assertPageFrame(page, 'the 404 page');
    await assertAccessible(page, 'the 404 page');
    assert.doesNotMatch(await page.content(), /PRV-\d{4}-\d+/, 'no case reference on the page');
    // The same case, for this area's chair, is there.
    const own = await signedInPage(browser, PEOPLE.chair);
    assert.equal((await own.goto(`/console/cases/${id}`)).status(), 200);
    await own.context().close();
    await page.context().close();
  });
});
