import { launch, signedInPage, PEOPLE, api, token } from './lib/harness.js';
const b = await launch(); const p = await signedInPage(b, PEOPLE.chair);
for (const st of ['support','exited']) {
  const id = (await api('GET', `/v1/cases?state=${st}`, token('CHAIR'))).items[0].id;
  await p.goto(`/console/cases/${id}`);
  console.log('=====', st);
  console.log(await p.evaluate(() => [...document.querySelectorAll('details form')].map(f => f.action.split('/').pop() + ':\n' + [...f.querySelectorAll('input,select,textarea')].filter(e=>e.type!=='hidden').map(e => `  ${e.tagName} ${e.type} name=${e.name} id=${e.id} value=${e.value} label=${(e.labels?.[0]?.textContent||'').replace(/\s+/g,' ')}`).join('\n')).join('\n')));
}
await b.close();
