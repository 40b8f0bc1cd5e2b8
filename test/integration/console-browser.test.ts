import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { connect } from '../../src/index.js';
import { ROOT } from '../helpers/broker.js';
import { http, startConsoleBroker } from '../helpers/console.js';

/**
 * The console in a real headless Chromium (Debian's `chromium`, driven by playwright-core): the queues page follows
 * the broker live, and its forms send, log in and purge. Screenshots go to .tap/screenshots/.
 */
const CHROMIUM = process.env['FERRYMQ_CHROMIUM'] ?? '/usr/bin/chromium';
const SHOTS = join(ROOT, '.tap', 'screenshots');

t.test('queues page: live counts, send from the form (with login), purge', { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run does)` }, async (t) => {
  const { chromium } = await import('playwright-core');
  const b = await startConsoleBroker(t, { webConsole: 'port="0" user="admin" password="browser-pw"', name: 'browser-node' });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('dialog', (d) => void d.accept()); // purge asks "are you sure?"
  page.setDefaultTimeout(10_000);

  const p = await connect(b.url);
  t.teardown(() => p.close());
  await Promise.all(Array.from({ length: 5 }, (_, i) => p.send('queue://BROWSER.Q', `hello ${i}`)));
  await page.goto(new URL('/queues', b.consoleUrl).href);
  const pending = page.locator('tr[data-name="BROWSER.Q"] td[data-col="pending"]');
  await pending.filter({ hasText: /^5$/ }).waitFor();
  t.equal(await page.locator('#role').textContent(), 'master', 'the header shows the role (a LevelDB node holds its store lock)');
  t.match(await page.locator('#role').getAttribute('title'), /^master \(holds lock .*LOCK\)$/);
  t.equal(await page.locator('#broker-name').textContent(), 'browser-node');

  // Produced while the page is open: the row follows without a reload.
  await Promise.all(Array.from({ length: 7 }, (_, i) => p.send('queue://BROWSER.Q', `more ${i}`)));
  await pending.filter({ hasText: /^12$/ }).waitFor();
  t.pass('pending went 5 -> 12 live');
  await page.locator('tr[data-name="BROWSER.Q"] td[data-col="enqueued"]').filter({ hasText: /^12$/ }).waitFor();

  // Send from the form: the first action asks for the login.
  await page.locator('tr[data-name="BROWSER.Q"] a.name').click();
  await page.locator('#send-body').fill('typed in the browser');
  await page.locator('#send-submit').click();
  await page.locator('#login-user').fill('admin');
  await page.locator('#login-password').fill('wrong');
  await page.locator('#login-submit').click();
  await page.locator('#login-error').filter({ hasText: /wrong user or password/ }).waitFor();
  await page.locator('#login-password').fill('browser-pw');
  await page.locator('#login-submit').click();
  await page.locator('#flash').filter({ hasText: 'sent 1 message(s) to queue://BROWSER.Q' }).waitFor();
  await pending.filter({ hasText: /^13$/ }).waitFor();
  await page.locator('#browse td').filter({ hasText: 'typed in the browser' }).waitFor();
  t.equal(await page.locator('#who').textContent(), 'admin', 'logged in as admin');
  const browsed = (await http(b.consoleUrl, 'GET', '/api/queues/BROWSER.Q/messages?max=1000')).json as { preview: string }[];
  t.equal(browsed.filter((m) => m.preview === 'typed in the browser').length, 1, 'the broker holds the message once');
  // Wait for a couple of chart points, then the picture.
  await page.locator('#chart-detail .u-over').waitFor();
  mkdirSync(SHOTS, { recursive: true });
  const shot = join(SHOTS, 'console-queues.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.ok(existsSync(shot), `screenshot at ${shot}`);

  // Purge from the row's button (already logged in: no dialog but the confirm).
  await page.locator('tr[data-name="BROWSER.Q"] button[data-action="purge"]').click();
  await page.locator('#flash').filter({ hasText: 'purged 13 message(s) from queue://BROWSER.Q' }).waitFor();
  await pending.filter({ hasText: /^0$/ }).waitFor();
  t.equal((await http(b.consoleUrl, 'GET', '/api/queues/BROWSER.Q')).json.pending, 0, 'the broker agrees');

  // The other pages draw without errors.
  for (const path of ['/', '/topics', '/connections', '/network']) {
    await page.goto(new URL(path, b.consoleUrl).href);
    await page.locator('main h2').first().waitFor();
  }
  await page.locator('#network .empty').filter({ hasText: 'No network connectors configured.' }).waitFor();
  t.same(pageErrors, [], 'no script errors on any page');
});
