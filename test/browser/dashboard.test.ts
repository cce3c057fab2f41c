/**
 * The web dashboard in a real Chromium (Debian's `chromium`, driven by playwright-core; nothing downloads a
 * browser) against a real master on a simulated UPS with real dry-run agent processes, over TLS as a fleet
 * runs it. The page must load without a console error, show the UPS and every agent, follow a UPS change
 * within a second (pushed, not polled), refuse an admin action without a token, show a drill's steps live
 * and then its report, and fit a 390×844 phone screen. Screenshots (desktop and phone) go to
 * UPSFLEET_SCREENSHOTS_DIR when set (the README's come from there), else into the test's temp dir.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { launchFleet, type RunningFleet, waitForAgents } from '../../cli/demo/fleet-launcher.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = process.env.UPSFLEET_CHROMIUM ?? '/usr/bin/chromium';

const GROUPS = [
  { name: 'lab', agents: ['lab1'] },
  { name: 'vms', agents: ['vm1', 'vm2'] },
  { name: 'app', agents: ['app1'] },
  { name: 'db', agents: ['db1'] },
];
const AGENTS = GROUPS.flatMap((g) => g.agents);

describe('web dashboard in Chromium', {
  skip: !existsSync(CHROMIUM) && `no ${CHROMIUM} (apt-get install chromium)`,
}, () => {
  let dir: string;
  let shots: string;
  let fleet: RunningFleet;
  let browser: Browser;
  let desktop: BrowserContext;
  let page: Page;
  const consoleErrors: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'upsfleet-dashboard-'));
    shots = resolve(process.env.UPSFLEET_SCREENSHOTS_DIR ?? join(dir, 'screenshots'));
    mkdirSync(shots, { recursive: true });
    // the page as the current sources build it (a stale dist/ is never what this tests)
    const web = join(dir, 'dashboard');
    const b = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-dashboard.mjs'), web], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(b.status, 0, b.stderr);
    fleet = await launchFleet({
      dir,
      groups: GROUPS.map((g) => ({
        ...g,
        // long enough to be seen running, drill-safe so the drill runs it
        hooks: [{ name: `flush-${g.name}`, run: 'sleep 1', timeout: '10s', drillSafe: true }],
      })),
      sequence: [
        { groups: ['vms'], deadline: '20s', settle: '200ms' },
        { groups: ['app'], deadline: '20s', settle: '200ms' },
        { groups: ['db'], deadline: '20s', settle: '200ms' },
      ],
      masterExtra: { groups: { lab: { trigger: { onBatteryFor: '10m' }, deadline: '20s' } } },
      timeline:
        'ups.status: OL CHRG\nbattery.charge: 100\nbattery.runtime: 1800\ninput.voltage: 230\noutput.voltage: 230\nups.load: 35\nTIMER 100000\n',
      masterEnv: { UPSFLEET_DASHBOARD_DIR: web },
    });
    await waitForAgents(fleet, 30_000);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // CI runs as root, where Chromium's sandbox cannot start
      args: ['--no-sandbox'],
    });
    // the master's certificate is self-signed (agents pin it): the browser is told to accept it
    desktop = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1360, height: 1000 } });
    page = await desktop.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(err.message));
  });

  after(async () => {
    await browser?.close();
    await fleet?.stop();
    if (dir && !process.env.UPSFLEET_KEEP_TMP) rmSync(dir, { recursive: true, force: true });
  });

  it('loads with no console error and shows the UPS and every agent', async () => {
    const res = await page.goto(`${fleet.httpUrl}/`);
    assert.equal(res?.status(), 200);
    assert.match(res?.headers()['content-security-policy'] ?? '', /default-src 'self'/);
    await page.waitForSelector('#conn[data-state="live"]', { timeout: 10_000 });
    await page.locator('#ups-status', { hasText: 'on line' }).waitFor();
    assert.match((await page.textContent('#ups-status')) ?? '', /charging/);
    assert.equal(await page.textContent('#charge-value'), '100%');
    assert.equal(await page.textContent('#runtime-value'), '30m 00s');
    assert.match((await page.textContent('#ups-vars')) ?? '', /230 V/);
    for (const id of AGENTS)
      await page.waitForSelector(`tr[data-agent="${id}"][data-connected="yes"]`, { timeout: 10_000 });
    // the sequence in order, the early group with its trigger, the final step
    const steps = await page.$$eval('#fleet .step', (els) =>
      els.map((e) => e.querySelector('b')?.textContent),
    );
    assert.deepEqual(steps, ['Early: lab', 'Step 1', 'Step 2', 'Step 3', 'Final step']);
    assert.match((await page.textContent('[data-early="lab"]')) ?? '', /on battery for 10m 00s/);
    assert.match((await page.textContent('tr[data-agent="vm1"]')) ?? '', /dry-run/);
    assert.match((await page.textContent('#plan')) ?? '', /Battery plan/);
    assert.ok((await page.$$('#journal li')).length > 0, 'journal entries shown');
    assert.ok(await page.$('#chart canvas'), 'history chart drawn');
    assert.deepEqual(consoleErrors, []);
  });

  it('follows a UPS change within one second, pushed by the master', async () => {
    const started = Date.now();
    await fleet.admin('/api/simulate', { name: 'ups.status', value: 'OL BOOST' });
    await page.locator('#ups-status', { hasText: 'boosting voltage' }).waitFor({ timeout: 1000 });
    const tookStatus = Date.now() - started;
    const t2 = Date.now();
    await fleet.admin('/api/simulate', { name: 'battery.charge', value: '87' });
    await page.locator('#charge-value', { hasText: /^87%$/ }).waitFor({ timeout: 1000 });
    const tookCharge = Date.now() - t2;
    assert.ok(tookStatus < 1000 && tookCharge < 1000, `took ${tookStatus} ms and ${tookCharge} ms`);
    await fleet.admin('/api/simulate', { name: 'ups.status', value: 'OL CHRG' });
  });

  it('refuses an admin action without a token', async () => {
    await page.click('#action-drill');
    await page.waitForSelector('#confirm[open]');
    await page.fill('#admin-token', '');
    await page.click('#confirm-ok');
    await page.locator('#action-result', { hasText: 'refused' }).waitFor();
    assert.match((await page.textContent('#action-result')) ?? '', /refused \(401\).*admin token required/);
    // a viewer's own request without a token is refused by the master too, and nothing started
    const status = await page.evaluate<number>(
      "fetch('api/fsd', { method: 'POST', body: '{}' }).then((r) => r.status)",
    );
    assert.equal(status, 401);
    const seq = await fleet.getJson<{ sequence: { state: string } }>('/status');
    assert.equal(seq.sequence.state, 'idle');
    assert.equal(await page.textContent('#seq-pill'), 'sequence idle');
    // the browser logs each refused request (the dialog's and ours): those and nothing else
    assert.deepEqual(
      consoleErrors.splice(0).map((e) => e.replace(/.*status of (\d+).*/, '$1')),
      ['401', '401'],
    );
  });

  it("shows a drill's steps live, then its report", async () => {
    await page.click('#action-drill');
    await page.waitForSelector('#confirm[open]');
    await page.fill('#admin-token', fleet.adminToken);
    await page.click('#confirm-ok');
    await page.locator('#action-result', { hasText: 'accepted' }).waitFor();
    // step 1 running with its hosts in their hooks, seen while it happens
    await page.waitForSelector(
      'tr[data-agent="vm1"][data-state="acked"], tr[data-agent="vm1"][data-state="going-down"]',
      {
        timeout: 10_000,
      },
    );
    assert.match((await page.textContent('#seq-pill')) ?? '', /drill running/);
    assert.match((await page.textContent('[data-step="1"] header')) ?? '', /running/);
    await page.waitForSelector('#live-feed li[data-kind="order"]');
    await page.waitForSelector('#live-feed li[data-kind="progress"]');
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: join(shots, 'dashboard-desktop.png'), fullPage: true });
    // later steps, then the master's final step and the report
    await page.waitForSelector('tr[data-agent="db1"][data-state="down"]', { timeout: 30_000 });
    await page.waitForSelector('#live-feed li[data-kind="drill-final"]', { timeout: 15_000 });
    await page.waitForSelector('#drill-verdict', { timeout: 15_000 });
    assert.equal(await page.textContent('#drill-verdict'), 'passed');
    for (const id of AGENTS)
      assert.ok(await page.$(`#drill-report tr[data-host="${id}"]`), `${id} in the report`);
    assert.match((await page.textContent('#plan')) ?? '', /measured by the drill/);
    assert.deepEqual(consoleErrors, []);
  });

  it('renders on a 390×844 phone screen', async () => {
    const phone = await browser.newContext({
      ignoreHTTPSErrors: true,
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    try {
      const p = await phone.newPage();
      const errors: string[] = [];
      p.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      p.on('pageerror', (err) => errors.push(err.message));
      await p.goto(`${fleet.httpUrl}/`);
      await p.waitForSelector('#conn[data-state="live"]');
      await p.waitForSelector('tr[data-agent="db1"]');
      const width = await p.evaluate<number>('document.documentElement.scrollWidth');
      assert.ok(width <= 390, `no sideways scrolling (page is ${width}px wide)`);
      const box = await p.locator('#charge-gauge').boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390, 'the charge gauge is on screen');
      for (const sel of ['#ups-status', '#fleet', '#action-drill'])
        assert.ok(await p.locator(sel).isVisible(), `${sel} visible`);
      await p.screenshot({ path: join(shots, 'dashboard-phone.png'), fullPage: false });
      assert.deepEqual(errors, []);
    } finally {
      await phone.close();
    }
  });
});
