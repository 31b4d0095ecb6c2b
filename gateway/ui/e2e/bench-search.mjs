// Benchmark (not a test): the Cluster UI's search over N systems (default 1M) in Debian's
// Chromium. Starts the fixture (netsim-tests/examples/ui_search_fixture.rs: a gateway member
// holding N systems, one simulated Uyuni node to log in through), logs in through the UI, and
// for each query of a seeded mix measures, in the page:
//
//   UI        query typed, Enter pressed (the form's submit)  →  the first result row of that
//             query is in the document (a MutationObserver sees it; the browser paints it in
//             that frame). Everything the page does: hash route, REST call, JSON, rendering.
//   baseline  the same query's REST round trip (`fetch` of /api/v1/systems, limit 200, the
//             UI's page size), parsed, from the same page, just before.
//
// Prints p50/p99 of both per query kind and over all, and the ratio of the p50s.
//
//   scripts/bench-ui-search.sh [SYSTEMS] [ROUNDS]
//   UI_FIXTURE_BIN=target/release/examples/ui_search_fixture node e2e/bench-search.mjs 1000000 200
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const here = resolve(import.meta.dirname, '..');
const repo = resolve(here, '../..');
const target = process.env.CARGO_TARGET_DIR ?? join(repo, 'target');
const fixtureBin = process.env.UI_FIXTURE_BIN ?? join(target, 'release/examples/ui_search_fixture');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const systems = Number(process.argv[2] ?? 1_000_000);
const rounds = Number(process.argv[3] ?? 200);

const t0 = Date.now();
const log = (...a) => console.error(`[${((Date.now() - t0) / 1000).toFixed(1)} s]`, ...a);

/** A seeded generator (mulberry32): the same query mix every run. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TAGS = ['web', 'db', 'app', 'cache'];
const pad = (i, n) => String(i).padStart(n, '0');

/** The query mix over `workload::system`'s records (host00000000.acme.org …). */
function queries(n, count) {
  const r = rng(42);
  const int = (k) => Math.floor(r() * k);
  const kinds = [
    ['exact name', () => `host${pad(int(n), 8)}.acme.org`],
    ['name glob', () => `host${pad(int(Math.max(1, Math.floor(n / 1000))), 5)}*`],
    ['tag and zone', () => `tag:${TAGS[int(4)]} and zone:zone${int(5)}`],
    ['node', () => `node:node${int(50)}`],
    ['tag', () => `tag:${TAGS[int(4)]}`],
  ];
  return Array.from({ length: count }, (_, i) => {
    const [kind, make] = kinds[i % kinds.length];
    return { kind, q: make() };
  });
}

function pct(xs, p) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

function startFixture() {
  const proc = spawn(fixtureBin, [String(systems)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let text = '';
  const ready = new Promise((ok, fail) => {
    proc.stdout.on('data', (d) => {
      text += d;
      const m = /^gateway (\S+)\n(?:rss (\d+)\n)?/m.exec(text);
      if (m && text.includes('rss ')) ok({ gateway: m[1], rss: Number(/rss (\d+)/.exec(text)?.[1]) });
    });
    proc.on('exit', (c) => fail(new Error(`the fixture exited (${c}): ${text}`)));
  });
  return { proc, ready };
}

async function until(what, timeoutMs, f) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs / 1000} s (${last ?? 'no'})`);
    await new Promise((ok) => setTimeout(ok, 500));
  }
}

async function main() {
  const fx = startFixture();
  const profile = mkdtempSync(join(tmpdir(), 'uc-ui-bench-'));
  let browser;
  try {
    const { gateway, rss } = await fx.ready;
    log(`fixture up: ${gateway}, ${systems} systems, gateway member RSS ${rss} MiB`);
    // The node joins, the gateway logs in through it, the index holds every system.
    const session = await until('login through the gateway', 300_000, async () => {
      const r = await fetch(`${gateway}/api/v1/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: 'admin' }),
      });
      return r.ok ? (await r.json()).session : undefined;
    });
    await until(`the index to hold ${systems} systems`, 600_000, async () => {
      const r = await fetch(`${gateway}/api/v1/systems?q=&limit=1`, { headers: { Authorization: `Bearer ${session}` } });
      return r.ok && (await r.json()).total === systems;
    });
    log('the index holds every system');

    browser = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
      viewport: { width: 1280, height: 900 },
    });
    const page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(60_000);
    page.on('crash', () => log('the page crashed'));
    page.on('pageerror', (e) => log(`page error: ${e}`));
    browser.on('close', () => log('the browser closed'));
    await page.goto(`${gateway}/`);
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password').fill('admin');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.goto(`${gateway}/#/search?q=${encodeURIComponent('host00000000.acme.org')}`);
    await page.locator('.row[data-minion="host00000000.acme.org"]').waitFor();
    await page.evaluate(() => {
      document.addEventListener('submit', () => (window.__t0 = performance.now()), true);
      // Preact may reuse a row's element for the new query's first system (its attribute
      // changes) or insert one: both are watched. Bounded: 60 s.
      window.__first = (minion) =>
        new Promise((ok, fail) => {
          const sel = `.row[data-minion="${CSS.escape(minion)}"]`;
          const timer = setTimeout(() => (obs.disconnect(), fail(new Error(`${minion} not shown in 60 s`))), 60_000);
          const obs = new MutationObserver(() => {
            if (document.querySelector(sel)) {
              obs.disconnect();
              clearTimeout(timer);
              ok(performance.now() - window.__t0);
            }
          });
          obs.observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ['data-minion'] });
        });
      window.__baseline = async (q) => {
        const key = sessionStorage.getItem('uyuni-cluster-session');
        const s = performance.now();
        const r = await fetch(`/api/v1/systems?q=${encodeURIComponent(q)}&limit=200`, {
          headers: { Authorization: `Bearer ${key}`, Accept: 'application/json' },
        });
        const p = await r.json();
        return { ms: performance.now() - s, total: p.total, first: p.systems[0]?.minion_id };
      };
    });

    const box = page.getByRole('combobox', { name: 'Search systems' });
    const warm = 5;
    const mix = queries(systems, rounds + warm);
    const res = [];
    let skipped = 0;
    for (const [i, { kind, q }] of mix.entries()) {
      const base = await page.evaluate((q) => window.__baseline(q), q);
      if (!base.first) throw new Error(`no hit for ${q}`);
      const shown = await page.locator(`.row[data-minion="${base.first}"]`).count();
      if (shown) {
        // Its first row is on screen already (the previous query's): nothing to time.
        skipped++;
        continue;
      }
      await box.fill(q);
      await page.evaluate((first) => {
        // Not returned: evaluate would wait for it.
        window.__pending = window.__first(first);
      }, base.first);
      await box.press('Enter');
      const ui = await page.evaluate(() => window.__pending);
      if (i >= warm) res.push({ kind, q, total: base.total, ui, rest: base.ms });
    }

    const line = (name, rs) => {
      const ui = rs.map((r) => r.ui);
      const rest = rs.map((r) => r.rest);
      const hits = rs.map((r) => r.total);
      return `${name.padEnd(14)} n=${String(rs.length).padStart(3)}  hits ${Math.min(...hits)}–${Math.max(...hits)}  UI p50 ${pct(ui, 50).toFixed(1)} ms p99 ${pct(ui, 99).toFixed(1)} ms  REST p50 ${pct(rest, 50).toFixed(1)} ms p99 ${pct(rest, 99).toFixed(1)} ms  UI/REST ${(pct(ui, 50) / pct(rest, 50)).toFixed(2)}`;
    };
    console.log(`systems ${systems}, gateway member RSS ${rss} MiB, ${res.length} timed searches (${skipped} skipped: first row already shown)`);
    for (const kind of [...new Set(res.map((r) => r.kind))]) console.log(line(kind, res.filter((r) => r.kind === kind)));
    console.log(line('all', res));
    const p50 = pct(res.map((r) => r.ui), 50);
    console.log(`first results in the browser: p50 ${p50.toFixed(1)} ms (target < 300 ms: ${p50 < 300 ? 'met' : 'NOT met'})`);
  } finally {
    await browser?.close().catch(() => {});
    fx.proc.stdin.end();
    await new Promise((ok) => {
      const t = setTimeout(() => (fx.proc.kill('SIGKILL'), ok()), 60_000);
      fx.proc.on('exit', () => (clearTimeout(t), ok()));
      if (fx.proc.exitCode !== null) (clearTimeout(t), ok());
    });
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`FAILED: ${e.stack ?? e}`);
  process.exit(1);
});
