import { useState } from 'preact/hooks';
import { api, ApiError, fpQuery, SystemRecord } from '../api';
import { Confirm } from '../components/Confirm';
import { ErrorBox } from '../components/ErrorBox';
import { usePoll } from '../poll';
import { href } from '../router';

/** The onboarding pool: systems waiting for acceptance (`status:new`), with tags to add
 *  before accepting, and accept / reject / ban. */
export function Pool() {
  const [filter, setFilter] = useState('');
  const q = filter.trim() ? `status:new and (${filter.trim()})` : 'status:new';
  const page = usePoll(() => api.search(q, 500), 2000, [q]);
  return (
    <section aria-labelledby="pool-title">
      <h1 id="pool-title">Onboarding pool</h1>
      <p class="muted">New systems wait here until accepted: accepting gives them a node in their zone.</p>
      <label>
        Filter (query)
        <input type="search" value={filter} placeholder="web*.acme.org" onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
      </label>
      <ErrorBox error={page.error} />
      {page.data && (
        <p role="status" data-testid="pool-count">
          {page.data.total.toLocaleString('en')} system(s) waiting
        </p>
      )}
      <ul class="pool">
        {(page.data?.systems ?? []).map((s) => (
          <PoolRow key={s.fingerprint} s={s} onDone={page.reload} />
        ))}
      </ul>
    </section>
  );
}

function PoolRow({ s, onDone }: { s: SystemRecord; onDone: () => void }) {
  const [tags, setTags] = useState('');
  const [error, setError] = useState<string>();
  const [asking, setAsking] = useState<string>();
  const [busy, setBusy] = useState(false);
  const act = async (action: string) => {
    setBusy(true);
    setError(undefined);
    try {
      const q = fpQuery(s.fingerprint);
      const t = tags.split(/[\s,]+/).filter(Boolean);
      if (action === 'accept' && t.length) await api.bulk(q, 'tag', t);
      await api.bulk(q, action);
      onDone();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
      setAsking(undefined);
    }
  };
  const id = `pool-${s.fingerprint.replace(/[^a-zA-Z0-9]/g, '')}`;
  return (
    <li class="pool-row" data-minion={s.minion_id} aria-labelledby={id}>
      <a id={id} href={href('system', s.fingerprint)}>{s.minion_id}</a>
      <span class="muted">{s.zone ?? 'no zone'}{s.tags && s.tags.length > 0 && <> · {s.tags.join(' ')}</>}</span>
      <label>
        Tags to add
        <input value={tags} placeholder="db" onInput={(e) => setTags((e.target as HTMLInputElement).value)} />
      </label>
      <button type="button" disabled={busy} onClick={() => act('accept')}>Accept</button>
      <button type="button" disabled={busy} onClick={() => setAsking('reject')}>Reject…</button>
      <button type="button" class="danger" disabled={busy} onClick={() => setAsking('ban')}>Ban…</button>
      <ErrorBox error={error} />
      {asking && (
        <Confirm
          title={`${asking} ${s.minion_id}?`}
          confirmLabel={`${asking} 1 system`}
          busy={busy}
          onConfirm={() => act(asking)}
          onCancel={() => setAsking(undefined)}
        >
          <p>
            {asking === 'ban'
              ? 'A banned system never gets a node again, even if it registers again.'
              : 'A rejected system leaves the pool; it may register again.'}{' '}
            This touches 1 system.
          </p>
        </Confirm>
      )}
    </li>
  );
}
