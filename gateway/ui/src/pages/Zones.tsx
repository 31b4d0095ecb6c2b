import { useState } from 'preact/hooks';
import { api, ApiError, ZoneView } from '../api';
import { Confirm } from '../components/Confirm';
import { ErrorBox } from '../components/ErrorBox';
import { relative, when } from '../format';
import { usePoll } from '../poll';

const MODES: Record<string, string> = {
  production: 'Production: a failed node’s systems are spread over the others; it comes back empty.',
  'disaster-recovery': 'Disaster recovery: a failed node that returns gets exactly its systems back.',
};

/** Zones: distribution mode (switched after a confirmation), Leader Node lease, the changes
 *  captured since the last publication. */
export function Zones() {
  const zones = usePoll(api.zones, 1000);
  return (
    <section aria-labelledby="z-title">
      <h1 id="z-title">Zones</h1>
      <ErrorBox error={zones.error} />
      {(zones.data ?? []).map((z) => (
        <ZoneCard key={z.name} z={z} onDone={zones.reload} />
      ))}
    </section>
  );
}

function ZoneCard({ z, onDone }: { z: ZoneView; onDone: () => void }) {
  const [asking, setAsking] = useState<string>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const other = z.mode === 'production' ? 'disaster-recovery' : 'production';
  const run = async () => {
    if (!asking) return;
    setBusy(true);
    setError(undefined);
    try {
      await api.setMode(z.name, asking);
      onDone();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
      setAsking(undefined);
    }
  };
  return (
    <article class="zone" aria-labelledby={`zc-${z.name}`} data-zone={z.name}>
      <h2 id={`zc-${z.name}`}>{z.name}</h2>
      <p>
        Mode: <strong data-testid={`zone-mode-${z.name}`}>{z.mode}</strong> — {MODES[z.mode] ?? ''}
      </p>
      <button type="button" onClick={() => setAsking(other)} data-testid={`switch-${z.name}`}>
        Switch to {other}…
      </button>
      <ErrorBox error={error} />
      <h3>Leader Node lease</h3>
      <p>
        {z.leader ? (
          <>Held by <strong>{z.leader}</strong> until {when(z.lease_expires_ms)} ({relative(z.lease_expires_ms)}).</>
        ) : (
          <>Nobody holds it{z.lease_expires_ms ? <> (the last lease ended {when(z.lease_expires_ms)})</> : null}.</>
        )}{' '}
        Published generation {z.generation}. Claim and release it with{' '}
        <code>uyuni-cluster leader claim|release --peer …</code> (not from this page yet).
      </p>
      <h3>Captured changes</h3>
      {z.pending.length === 0 ? (
        <p class="muted">None waiting for “Apply cluster update”.</p>
      ) : (
        <>
          <ul>{z.pending.map((p) => <li key={p}><code>{p}</code></li>)}</ul>
          <p class="muted">Publish them with <code>uyuni-cluster leader publish --peer …</code>.</p>
        </>
      )}
      {asking && (
        <Confirm
          title={`Switch ${z.name} to ${asking}?`}
          confirmLabel={`Switch to ${asking}`}
          busy={busy}
          onConfirm={run}
          onCancel={() => setAsking(undefined)}
        >
          <p>{MODES[asking]}</p>
        </Confirm>
      )}
    </article>
  );
}
