// End-to-end test of the Cluster UI in a real browser (Debian's Chromium, driven by
// playwright-core) against the real sandbox (`uyuni-cluster sandbox`: real peers, the
// gateway, simulated Uyuni nodes, agents). Screenshots of every page go to e2e-out/.
//
//   UYUNI_CLUSTER_BIN=target/debug/uyuni-cluster node e2e/run.mjs
//
// Exit status 0 when every step passed. docs/UI.md describes it.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const here = resolve(import.meta.dirname, '..');
const repo = resolve(here, '../..');
const out = join(here, 'e2e-out');
const target = process.env.CARGO_TARGET_DIR ?? join(repo, 'target');
const bin = process.env.UYUNI_CLUSTER_BIN ?? join(target, 'release/uyuni-cluster');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)} s]`, ...a);
const timings = {};

/** Start the sandbox on ephemeral ports; resolve with what its banner says. */
function startSandbox(dir) {
  const proc = spawn(bin, ['sandbox', '--dir', dir, '--base-port', '0'], {
    cwd: dir,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  let text = '';
  const banner = new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`sandbox not ready in 300 s:\n${text}`)), 300_000);
    proc.stdout.on('data', (d) => {
      text += d;
      if (text.includes('Ctrl-C stops the sandbox')) {
        clearTimeout(timer);
        ok(text);
      }
    });
    proc.stderr.on('data', () => {});
    proc.on('exit', (c) => fail(new Error(`sandbox exited (${c}):\n${text}`)));
  });
  return { proc, banner };
}

function parseBanner(text) {
  const gateway = /REST\s+(https:\/\/[\d.:]+)\/api\/v1/.exec(text)?.[1];
  const peers = [...text.matchAll(/^ {2}((?:dc1|store1)-peer\d+)\s+https:\/\/\S+/gm)].map((m) => m[1]);
  const uyuni = Object.fromEntries(
    [...text.matchAll(/^ {2}((?:dc1|store1)-peer\d+)\s+https:\/\/\S+.*\n\s+Uyuni API (http\S+)/gm)].map((m) => [m[1], m[2]]),
  );
  const agents = [...text.matchAll(/^ {2}\S+…\s+(\w+)\s+node (\S+)\s+master setting in (\S+)/gm)].map((m) => ({
    status: m[1],
    fqdn: m[2],
    minion: `${/agents\/(minion\d+)\//.exec(m[3])?.[1]}.sandbox.test`,
  }));
  if (!gateway || peers.length === 0) throw new Error(`cannot read the sandbox banner:\n${text}`);
  return { gateway, peers, uyuni, agents };
}

/** The pid of a sandbox peer process (a child of the sandbox), from /proc. */
function peerPid(sandboxPid, name) {
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const args = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      const ppid = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[1];
      if (Number(ppid) === sandboxPid && args[1] === 'peer' && args.includes(name)) return Number(p);
    } catch {
      /* gone meanwhile */
    }
  }
  throw new Error(`no process of peer ${name}`);
}

/** One XML-RPC call to a node's own Uyuni API (string parameters): the answer's text. */
async function xmlrpc(api, method, params) {
  const body = `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params
    .map((p) => `<param><value><string>${p}</string></value></param>`)
    .join('')}</params></methodCall>`;
  const r = await fetch(api, { method: 'POST', body, headers: { 'Content-Type': 'text/xml' } });
  const text = await r.text();
  if (text.includes('<fault>')) throw new Error(`${method} at ${api}: ${text}`);
  return text;
}

/** A session key on a node's own Uyuni API. */
async function nodeLogin(api) {
  const login = await xmlrpc(api, 'auth.login', ['admin', 'admin']);
  return /<string>([^<]+)<\/string>/.exec(login)?.[1];
}

/** A system's id on a node, from the node's own Uyuni API (XML-RPC). */
async function nodeSystemId(api, minion) {
  const key = await nodeLogin(api);
  const map = await xmlrpc(api, 'system.getMinionIdMap', [key]);
  const m = new RegExp(`<name>${minion.replace(/\./g, '\\.')}</name>\\s*<value>\\s*<(?:int|i4|i8)>(\\d+)<`).exec(map);
  return m ? Number(m[1]) : undefined;
}

async function step(name, f) {
  const s = Date.now();
  log(`step: ${name}`);
  await f();
  timings[name] = Date.now() - s;
}

async function main() {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'uc-ui-e2e-'));
  const profile = mkdtempSync(join(tmpdir(), 'uc-ui-chromium-'));
  const sb = startSandbox(dir);
  let browser;
  try {
    const banner = await sb.banner;
    timings['sandbox start'] = Date.now() - t0;
    const { gateway, peers, uyuni, agents } = parseBanner(banner);
    log(`sandbox up: gateway ${gateway}, peers ${peers.join(' ')}`);
    const ctx = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      ignoreHTTPSErrors: true,
      viewport: { width: 1280, height: 900 },
    });
    browser = ctx;
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    page.setDefaultTimeout(30_000);
    // Nothing but the gateway: the page fetches nothing from anywhere else.
    const foreign = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(gateway) && !r.url().startsWith('data:')) foreign.push(r.url());
    });
    const shot = (name) => page.screenshot({ path: join(out, `${name}.png`), fullPage: true });

    await step('login', async () => {
      await page.goto(`${gateway}/`);
      await page.getByLabel('User name').waitFor();
      await shot('01-login');
      await page.getByLabel('User name').fill('admin');
      await page.getByLabel('Password').fill('admin');
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('heading', { name: 'Overview' }).waitFor();
    });

    await step('overview shows every peer of both zones', async () => {
      for (const p of peers) {
        await page.locator(`[data-testid="status-${p}"]`).filter({ hasText: 'alive' }).waitFor();
      }
      for (const z of ['dc1', 'store1']) await page.locator(`[data-zone="${z}"]`).waitFor();
      await shot('02-overview');
    });

    const waiting = agents.find((a) => a.status === 'new');
    if (!waiting) throw new Error('the sandbox left no agent waiting');
    await step('search status:new finds the waiting system', async () => {
      await page.goto(`${gateway}/#/search`);
      // The query box (the bulk bar's action list is a combobox too, once a result is in).
      await page.locator('input#q').fill('status:n');
      await page.getByRole('option', { name: 'status:new' }).waitFor();
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('Enter');
      await page.keyboard.press('Enter');
      await page.getByTestId('hit-count').waitFor();
      await page.locator(`.row[data-minion="${waiting.minion}"]`).waitFor();
      await page.locator('.facets a', { hasText: 'dc1' }).first().waitFor();
      await shot('03-search');
    });

    await step('accepting from the pool onboards it on a node', async () => {
      await page.goto(`${gateway}/#/pool`);
      const row = page.locator(`.pool-row[data-minion="${waiting.minion}"]`);
      await row.getByLabel('Tags to add').fill('e2e');
      await shot('04-pool');
      await row.getByRole('button', { name: 'Accept' }).click();
      await row.waitFor({ state: 'detached' });
      await page.goto(`${gateway}/#/search?q=${encodeURIComponent(`name:${waiting.minion}`)}`);
      await page.locator(`.row[data-minion="${waiting.minion}"] a`).click();
      await page.getByTestId('sys-status').filter({ hasText: 'onboarded' }).waitFor({ timeout: 60_000 });
      const node = (await page.getByTestId('sys-node').textContent())?.trim();
      if (!node || !peers.includes(node)) throw new Error(`accepted system is on "${node}"`);
      log(`accepted ${waiting.minion}: onboarded on ${node}`);
      await shot('05-system');
    });

    await step('a ban removes a system from the pool', async () => {
      await page.goto(`${gateway}/#/pool`);
      const row = page.locator('.pool-row').first();
      await row.waitFor();
      const minion = await row.getAttribute('data-minion');
      await row.getByRole('button', { name: 'Ban…' }).click();
      await page.getByRole('dialog').getByText('This touches 1 system').waitFor();
      await shot('06-ban-confirm');
      await page.getByRole('button', { name: 'ban 1 system' }).click();
      await page.locator(`.pool-row[data-minion="${minion}"]`).waitFor({ state: 'detached' });
      log(`banned ${minion}`);
    });

    await step("switching a zone's mode shows", async () => {
      await page.goto(`${gateway}/#/zones`);
      await page.getByTestId('switch-store1').click();
      await page.getByRole('dialog').getByRole('button', { name: 'Switch to disaster-recovery', exact: true }).click();
      await page.getByTestId('zone-mode-store1').filter({ hasText: 'disaster-recovery' }).waitFor();
      await page.goto(`${gateway}/#/overview`);
      await page.getByTestId('mode-store1').filter({ hasText: 'disaster-recovery' }).waitFor();
    });

    await step('the lease, a captured change, "Apply cluster update", release', async () => {
      await page.goto(`${gateway}/#/zones`);
      const dc1 = page.locator('[data-zone="dc1"]');
      await dc1.getByText('Published common data').waitFor();
      await dc1.locator('table.nodes tbody tr').first().waitFor();
      await dc1.getByLabel('Node to lead').selectOption('dc1-peer1');
      await dc1.getByRole('button', { name: 'Claim…' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Claim the lease' }).click();
      await page.getByTestId('lease-dc1').getByText('Held by dc1-peer1').waitFor();
      // An administrator creates a system group and a CLM project on the Leader Node's own
      // Uyuni server: its database triggers capture them as the zone's pending changes.
      const key = await nodeLogin(uyuni['dc1-peer1']);
      await xmlrpc(uyuni['dc1-peer1'], 'systemgroup.create', [key, 'e2e-web', 'Web servers of the browser test']);
      await xmlrpc(uyuni['dc1-peer1'], 'contentmanagement.createProject', [key, 'e2e-clm', 'E2E CLM', 'made by the browser test']);
      await dc1.locator('li', { hasText: 'systemgroup/e2e-web' }).waitFor({ timeout: 60_000 });
      await dc1.locator('li', { hasText: 'contentproject/e2e-clm' }).waitFor({ timeout: 60_000 });
      await shot('07-zones-captured');
      await page.getByTestId('publish-dc1').click();
      await page.getByRole('dialog').getByRole('button', { name: 'Apply cluster update' }).click();
      const published = await page.getByTestId('published-dc1').textContent();
      if (!/dc1-peer1 published [1-9]\d* change\(s\); dc1 is at generation \d+/.test(published ?? ''))
        throw new Error(`after "Apply cluster update": ${published}`);
      log(published);
      // Its effect: the group is the zone's published common data, nothing waits any more.
      await dc1.locator('table.nodes tbody th', { hasText: 'e2e-web' }).waitFor();
      await dc1.getByText('None waiting for “Apply cluster update”').waitFor();
      await shot('07-zones');
      await dc1.getByRole('button', { name: 'Release…' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Release the lease' }).click();
      await page.getByTestId('lease-dc1').getByText('Nobody holds it').waitFor();
    });

    await step('content: the demo repository complete on every dc1 node; verify; import', async () => {
      await page.goto(`${gateway}/#/content`);
      const dc1 = peers.filter((p) => p.startsWith('dc1-')).length;
      await page.locator('[data-repo="dc1/demo-tools"]').getByText(`${dc1} of ${dc1} node(s)`).waitFor();
      await page.locator('[data-node-repo="dc1-peer2:dc1/demo-tools"]').getByText('complete').first().waitFor();
      await page.getByTestId('verify-dc1-peer2').click();
      const verified = page.getByTestId('verified-dc1-peer2');
      await verified.waitFor({ timeout: 120_000 });
      const words = (await verified.textContent()) ?? '';
      if (!/^No drift: 1 repo\(s\), [1-9]\d* file\(s\)( and \d+ manifest\(s\))? checked/.test(words)) throw new Error(`verify: ${words}`);
      log(`verify dc1-peer2: ${words}`);
      // An import from a tree on dc1-peer2's host (the sandbox's import root).
      await page.getByLabel('Import on node').selectOption('dc1-peer2');
      await page.getByLabel('Directory on its host').fill(join(dir, 'content', 'demo-tools'));
      await page.getByLabel('Repository name').fill('e2e-tools');
      await page.getByRole('button', { name: 'Import', exact: true }).click();
      await page.getByTestId('import-job').getByText('e2e-tools done').waitFor({ timeout: 60_000 });
      await page.locator('[data-repo="dc1/e2e-tools"]').getByText(`${dc1} of ${dc1} node(s)`).waitFor({ timeout: 90_000 });
      await shot('08-content');
    });

    await step('CLM: save a version from a node, apply it, every node of the zone imports it', async () => {
      await page.goto(`${gateway}/#/content`);
      await page.getByLabel('Project label').fill('e2e-clm');
      await page.getByLabel('From node').selectOption('dc1-peer1');
      await page.getByRole('button', { name: 'Save a version' }).click();
      await page.getByTestId('clm-saved').getByText('Saved dc1/e2e-clm v1 from dc1-peer1').waitFor();
      const row = page.locator('[data-clm="dc1/e2e-clm"]');
      await row.waitFor();
      await page.getByTestId('clm-apply-dc1/e2e-clm').click();
      await page.getByRole('dialog').getByRole('button', { name: 'Apply the version' }).click();
      await page.getByTestId('clm-done-dc1/e2e-clm').getByText('applied 0000000001.dc1-peer1 to dc1').waitFor();
      await page.getByTestId('clm-applied-dc1/e2e-clm').getByText('0000000001.dc1-peer1').waitFor();
      const dc1 = peers.filter((p) => p.startsWith('dc1-')).length;
      await row.getByText(`${dc1} of ${dc1} node(s)`).waitFor({ timeout: 90_000 });
      await shot('08-clm');
    });

    const onboarded = agents.find((a) => a.status === 'onboarded');
    await step('"Open on node" points at the right node and id', async () => {
      const node = onboarded.fqdn.replace(/^uyuni-/, '').replace(/\.sandbox\.test$/, '');
      const sid = await nodeSystemId(uyuni[node], onboarded.minion);
      if (!sid) throw new Error(`${node} does not know ${onboarded.minion}`);
      await page.goto(`${gateway}/#/search?q=${encodeURIComponent(`name:${onboarded.minion}`)}`);
      await page.locator(`.row[data-minion="${onboarded.minion}"] a`).click();
      const link = page.getByTestId('open-on-node');
      await link.waitFor();
      const want = `https://${onboarded.fqdn}/rhn/systems/details/Overview.do?sid=${sid}`;
      const got = await link.getAttribute('href');
      if (got !== want) throw new Error(`Open on node: ${got}, want ${want}`);
      await shot('09-open-on-node');
    });

    await step('an expired session returns to login without losing the page', async () => {
      await page.goto(`${gateway}/#/zones`);
      await page.getByTestId('zone-mode-dc1').waitFor();
      // The session ends behind the page's back (as at expiry): the next poll gets 401.
      await page.evaluate(async () => {
        const key = sessionStorage.getItem('uyuni-cluster-session');
        await fetch('/api/v1/logout', { method: 'POST', headers: { Authorization: `Bearer ${key}` } });
      });
      await page.getByText('Your session has ended').waitFor();
      await page.getByLabel('User name').fill('admin');
      await page.getByLabel('Password').fill('admin');
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByTestId('zone-mode-dc1').waitFor();
      if (!page.url().endsWith('#/zones')) throw new Error(`back on ${page.url()}`);
    });

    await step('phone width', async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(`${gateway}/#/overview`);
      await page.locator(`[data-testid="status-${peers[0]}"]`).waitFor();
      await shot('10-overview-phone');
      await page.setViewportSize({ width: 1280, height: 900 });
    });

    await step('a killed peer shows suspect, then down, without a reload', async () => {
      const victim = peers.find((p) => p.startsWith('dc1-')) && peers.filter((p) => p.startsWith('dc1-')).at(-1);
      await page.goto(`${gateway}/#/overview`);
      const status = page.getByTestId(`status-${victim}`);
      await status.filter({ hasText: 'alive' }).waitFor();
      // Mark the document: a reload would lose the mark.
      await page.evaluate(() => (window.__noReload = true));
      const pid = peerPid(sb.proc.pid, victim);
      const killedAt = Date.now();
      process.kill(pid, 'SIGKILL');
      log(`killed ${victim} (pid ${pid})`);
      await status.filter({ hasText: 'suspect' }).waitFor({ timeout: 60_000 });
      timings['kill → suspect shown'] = Date.now() - killedAt;
      await shot('11-overview-suspect');
      await status.filter({ hasText: 'down' }).waitFor({ timeout: 90_000 });
      timings['kill → down shown'] = Date.now() - killedAt;
      if (!(await page.evaluate(() => window.__noReload === true))) throw new Error('the page reloaded');
      await page.locator('.events li', { hasText: `${victim} is down` }).waitFor();
      await shot('12-overview-down');
    });

    await step('charts', async () => {
      await page.goto(`${gateway}/#/charts`);
      await page.locator('.uplot').nth(2).waitFor();
      const charts = await page.locator('figcaption').allTextContents();
      if (!charts.some((c) => c.startsWith('Systems online per node')))
        throw new Error(`no chart of systems online by heartbeat: ${charts.join(' | ')}`);
      await page.getByRole('columnheader', { name: 'Online' }).waitFor();
      await shot('13-charts');
    });

    await step('logout', async () => {
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.getByLabel('User name').waitFor();
    });
    if (foreign.length) throw new Error(`requests outside the gateway: ${foreign.join(' ')}`);
  } finally {
    await browser?.close().catch(() => {});
    try {
      process.kill(sb.proc.pid, 'SIGINT');
    } catch {
      /* already gone */
    }
    await new Promise((ok) => {
      const t = setTimeout(() => {
        try {
          process.kill(-sb.proc.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
        ok();
      }, 30_000);
      sb.proc.on('exit', () => (clearTimeout(t), ok()));
      if (sb.proc.exitCode !== null) (clearTimeout(t), ok());
    });
    rmSync(profile, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
  timings.total = Date.now() - t0;
  writeFileSync(join(out, 'timings.json'), JSON.stringify(timings, null, 2));
  log('all steps passed', timings);
}

main().catch((e) => {
  console.error(`FAILED: ${e.stack ?? e}`);
  process.exit(1);
});
