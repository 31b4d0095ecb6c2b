import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, Facets, SystemRecord } from '../api';
import { BulkBar } from '../components/BulkBar';
import { ErrorBox } from '../components/ErrorBox';
import { QueryBox } from '../components/QueryBox';
import { VirtualList } from '../components/VirtualList';
import { narrow, Known, STATUSES } from '../query';
import { href } from '../router';
import { usePoll } from '../poll';

const PAGE = 200;

/** The "local Google": query, hit count, facets, a virtualised list paged by cursor, bulk
 *  actions on every match. The query lives in the URL (`#/search?q=…`). */
export function Search({ q }: { q: string }) {
  const [rows, setRows] = useState<SystemRecord[]>([]);
  const [total, setTotal] = useState<number>();
  const [next, setNext] = useState<string>();
  const [error, setError] = useState<string>();
  const [ms, setMs] = useState<number>();
  const [facets, setFacets] = useState<Facets>();
  const [gen, setGen] = useState(0);
  const loading = useRef(false);
  const nodes = usePoll(api.nodes, 0);
  const zones = usePoll(api.zones, 0);

  useEffect(() => {
    let live = true;
    const t0 = performance.now();
    setError(undefined);
    loading.current = true;
    api
      .search(q, PAGE)
      .then((p) => {
        if (!live) return;
        setRows(p.systems);
        setTotal(p.total);
        setNext(p.next);
        setMs(Math.round(performance.now() - t0));
      })
      .catch((e) => live && (setError(e instanceof ApiError ? e.message : String(e)), setRows([]), setTotal(undefined)))
      .finally(() => (loading.current = false));
    api.facets(q).then((f) => live && setFacets(f)).catch(() => live && setFacets(undefined));
    return () => {
      live = false;
    };
  }, [q, gen]);

  const more = () => {
    if (!next || loading.current) return;
    loading.current = true;
    api
      .search(q, PAGE, next)
      .then((p) => {
        setRows((r) => [...r, ...p.systems]);
        setNext(p.next);
      })
      .catch((e) => setError(e instanceof ApiError ? e.message : String(e)))
      .finally(() => (loading.current = false));
  };

  const tags = [...new Set(rows.flatMap((r) => r.tags ?? []))];
  const groups = [...new Set(rows.flatMap((r) => r.groups ?? []))];
  const known: Known = {
    zone: (zones.data ?? []).map((z) => z.name),
    node: (nodes.data ?? []).map((n) => n.name),
    status: STATUSES,
    tag: tags,
    group: groups,
  };
  const go = (nq: string) => (location.hash = href('search', undefined, { q: nq }));

  return (
    <section aria-labelledby="s-title">
      <h1 id="s-title">Search</h1>
      <QueryBox key={q} value={q} known={known} onSubmit={go} />
      <ErrorBox error={error} />
      {total !== undefined && (
        <p class="hits" role="status" data-testid="hit-count">
          {total.toLocaleString('en')} system(s){ms !== undefined && <span class="muted"> · first page in {ms} ms</span>}
        </p>
      )}
      <div class="search-body">
        <aside class="facets" aria-label="Narrow by">
          {facets &&
            (['zone', 'node', 'status'] as const).map((k) => (
              <div key={k}>
                <h2>{k}</h2>
                <ul>
                  {facets[k].map((f) => (
                    <li key={f.value}>
                      <a href={href('search', undefined, { q: narrow(q, k, f.value) })}>
                        {f.value} <span class="count">{f.count.toLocaleString('en')}</span>
                      </a>
                    </li>
                  ))}
                </ul>
              </div>
            ))}
        </aside>
        <div class="results">
          {total !== undefined && <BulkBar q={q} total={total} onDone={() => setGen((g) => g + 1)} />}
          <div class="row head" aria-hidden="true">
            <span>System</span><span>Status</span><span>Zone</span><span>Node</span><span>Tags</span>
          </div>
          <VirtualList
            label="Matching systems"
            items={rows}
            rowHeight={36}
            height={Math.max(240, Math.min(640, rows.length * 36))}
            onEnd={next ? more : undefined}
            render={(s) => <Row s={s} />}
          />
        </div>
      </div>
    </section>
  );
}

function Row({ s }: { s: SystemRecord }) {
  return (
    <div class="row" data-minion={s.minion_id}>
      <a href={href('system', s.fingerprint)}>{s.minion_id}</a>
      <span class={`status status-${s.status}`}>{s.banned ? 'banned' : s.status}</span>
      <span>{s.zone ?? '—'}</span>
      <span>{s.node ?? '—'}</span>
      <span class="tags">{(s.tags ?? []).join(' ')}</span>
    </div>
  );
}
