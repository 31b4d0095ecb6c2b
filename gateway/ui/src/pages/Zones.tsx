import { useState } from 'preact/hooks';
import { api, ApiError, NodeView, ZoneView } from '../api';
import { Confirm } from '../components/Confirm';
import { ErrorBox } from '../components/ErrorBox';
import { relative, when } from '../format';
import { usePoll } from '../poll';

const MODES: Record<string, string> = {
  production: 'Production: a failed node’s systems are spread over the others; it comes back empty.',
  'disaster-recovery': 'Disaster recovery: a failed node that returns gets exactly its systems back.',
};

interface Ask {
  title: string;
  label: string;
  text: string;
  run: () => Promise<unknown>;
}

/** Zones: distribution mode (switched after a confirmation), the Leader Node lease (claim,
 *  release), the changes captured since the last publication, the published common data. */
export function Zones() {
  const zones = usePoll(api.zones, 1000);
  const nodes = usePoll(api.nodes, 2000);
  return (
    <section aria-labelledby="z-title">
      <h1 id="z-title">Zones</h1>
      <ErrorBox error={zones.error} />
      {(zones.data ?? []).map((z) => (
        <ZoneCard key={z.name} z={z} nodes={(nodes.data ?? []).filter((n) => n.zone === z.name)} onDone={zones.reload} />
      ))}
    </section>
  );
}

function ZoneCard({ z, nodes, onDone }: { z: ZoneView; nodes: NodeView[]; onDone: () => void }) {
  const [ask, setAsk] = useState<Ask>();
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [node, setNode] = useState('');
  const common = usePoll(() => api.common(z.name), 5000, [z.name, z.generation]);
  const other = z.mode === 'production' ? 'disaster-recovery' : 'production';
  const ready = nodes.filter((n) => n.common_ready && n.status === 'alive');
  const pick = node || ready[0]?.name || '';
  const run = async () => {
    if (!ask) return;
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    try {
      await ask.run();
      onDone();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
      setAsk(undefined);
    }
  };
  const live = (common.data ?? []).filter((c) => !c.deleted);
  return (
    <article class="zone" aria-labelledby={`zc-${z.name}`} data-zone={z.name}>
      <h2 id={`zc-${z.name}`}>{z.name}</h2>
      <p>
        Mode: <strong data-testid={`zone-mode-${z.name}`}>{z.mode}</strong> — {MODES[z.mode] ?? ''}
      </p>
      <button
        type="button"
        data-testid={`switch-${z.name}`}
        onClick={() =>
          setAsk({
            title: `Switch ${z.name} to ${other}?`,
            label: `Switch to ${other}`,
            text: MODES[other],
            run: () => api.setMode(z.name, other),
          })
        }
      >
        Switch to {other}…
      </button>
      <ErrorBox error={error} />
      <h3>Leader Node lease</h3>
      <p data-testid={`lease-${z.name}`}>
        {z.leader ? (
          <>Held by <strong>{z.leader}</strong> until {when(z.lease_expires_ms)} ({relative(z.lease_expires_ms)}).</>
        ) : (
          <>Nobody holds it{z.lease_expires_ms ? <> (the last lease ended {when(z.lease_expires_ms)})</> : null}.</>
        )}{' '}
        Published generation {z.generation}.
      </p>
      <div class="bulk">
        <label>
          Node to lead
          <select value={pick} onChange={(e) => setNode((e.target as HTMLSelectElement).value)}>
            {ready.map((n) => (
              <option key={n.name} value={n.name}>{n.name}</option>
            ))}
          </select>
        </label>
        <button
          type="button"
          disabled={!pick}
          onClick={() =>
            setAsk({
              title: `${pick} leads ${z.name}?`,
              label: z.leader === pick ? 'Renew the lease' : 'Claim the lease',
              text: `For 30 minutes ${pick}'s Uyuni server is the pattern: channels, activation keys, groups and CLM projects created there are captured, and published to every node of ${z.name} with “Apply cluster update”.`,
              run: () => api.claimLease(z.name, pick),
            })
          }
        >
          {z.leader === pick ? 'Renew…' : 'Claim…'}
        </button>
        <button
          type="button"
          disabled={!z.leader}
          onClick={() =>
            setAsk({
              title: `Release ${z.name}'s lease?`,
              label: 'Release the lease',
              text: `${z.pending.length} captured change(s) not yet published will be dropped.`,
              run: () => api.releaseLease(z.name),
            })
          }
        >
          Release…
        </button>
      </div>
      <h3>Captured changes</h3>
      {done && <p role="status" data-testid={`published-${z.name}`}>{done}</p>}
      {z.pending.length === 0 ? (
        <p class="muted">None waiting for “Apply cluster update”.</p>
      ) : (
        <>
          <ul>{z.pending.map((p) => <li key={p}><code>{p}</code></li>)}</ul>
          <button
            type="button"
            data-testid={`publish-${z.name}`}
            disabled={!z.leader}
            onClick={() =>
              setAsk({
                title: `Apply the cluster update to ${z.name}?`,
                label: 'Apply cluster update',
                text: `${z.pending.length} change(s) captured on ${z.leader ?? 'the Leader Node'} are published to every node of ${z.name}.`,
                run: async () => {
                  const p = await api.publish(z.name);
                  setDone(`${p.leader} published ${p.published.length} change(s); ${z.name} is at generation ${p.generation}.`);
                },
              })
            }
          >
            Apply cluster update…
          </button>
        </>
      )}
      <h3>Published common data</h3>
      <ErrorBox error={common.error} />
      {live.length === 0 ? (
        <p class="muted">Nothing published in {z.name} yet.</p>
      ) : (
        <table class="nodes">
          <caption class="sr-only">Common data of {z.name}</caption>
          <thead><tr><th scope="col">Kind</th><th scope="col">Key</th><th scope="col">Generation</th><th scope="col">Published by</th></tr></thead>
          <tbody>
            {live.map((c) => (
              <tr key={`${c.kind}/${c.key}`}><td>{c.kind}</td><th scope="row">{c.key}</th><td>{c.generation}</td><td>{c.published_by}</td></tr>
            ))}
          </tbody>
        </table>
      )}
      {ask && (
        <Confirm title={ask.title} confirmLabel={ask.label} busy={busy} onConfirm={run} onCancel={() => setAsk(undefined)}>
          <p>{ask.text}</p>
        </Confirm>
      )}
    </article>
  );
}
