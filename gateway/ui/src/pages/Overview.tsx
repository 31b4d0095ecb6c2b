import { api, NodeView, ZoneView, ClusterEvent } from '../api';
import { usePoll } from '../poll';
import { Bar } from '../components/Bar';
import { ErrorBox } from '../components/ErrorBox';
import { relative, when } from '../format';
import { href } from '../router';

export const LIVE_MS = 1000;

/** The whole cluster at once: zones, their nodes, liveness, load, mode, Leader Node lease,
 *  common data completeness, totals and recent changes. Polls every second. */
export function Overview() {
  const nodes = usePoll(api.nodes, LIVE_MS);
  const zones = usePoll(api.zones, LIVE_MS);
  const events = usePoll(() => api.events(0), LIVE_MS);
  return (
    <section aria-labelledby="ov-title">
      <h1 id="ov-title">Overview</h1>
      <ErrorBox error={nodes.error ?? zones.error} />
      {nodes.data && zones.data && <ClusterView nodes={nodes.data} zones={zones.data} />}
      <h2>Recent changes</h2>
      <ErrorBox error={events.error} />
      <Events events={events.data ?? []} />
    </section>
  );
}

export function ClusterView({ nodes, zones, now = Date.now() }: { nodes: NodeView[]; zones: ZoneView[]; now?: number }) {
  const names = [...new Set([...zones.map((z) => z.name), ...nodes.map((n) => n.zone)])].sort();
  const assigned = nodes.reduce((a, n) => a + n.systems, 0);
  const alive = nodes.filter((n) => n.status === 'alive').length;
  const orphans = zones.reduce((a, z) => a + z.orphans, 0);
  return (
    <>
      <dl class="totals" aria-label="Cluster totals">
        <div><dt>Zones</dt><dd>{names.length}</dd></div>
        <div><dt>Nodes alive</dt><dd data-testid="alive-count">{alive} / {nodes.length}</dd></div>
        <div><dt>Systems on nodes</dt><dd>{assigned.toLocaleString('en')}</dd></div>
        <div><dt>Orphans</dt><dd>{orphans.toLocaleString('en')}</dd></div>
      </dl>
      <div class="zones">
        {names.map((name) => {
          const z = zones.find((x) => x.name === name);
          const zn = nodes.filter((n) => n.zone === name);
          const cap = zn.reduce((a, n) => a + n.capacity, 0);
          const total = zn.reduce((a, n) => a + n.systems, 0);
          const ready = zn.filter((n) => n.common_ready).length;
          return (
            <article class="zone" key={name} aria-labelledby={`zone-${name}`} data-zone={name}>
              <header>
                <h2 id={`zone-${name}`}>{name}</h2>
                <span class={`mode mode-${z?.mode ?? 'unknown'}`} data-testid={`mode-${name}`}>
                  {z?.mode ?? 'unknown'}
                </span>
              </header>
              <p class="lease">
                Leader Node:{' '}
                {z?.leader ? (
                  <>
                    <strong>{z.leader}</strong> (lease ends {relative(z.lease_expires_ms, now)}, at {when(z.lease_expires_ms)})
                  </>
                ) : (
                  'none (nobody edits common data)'
                )}
                {z && z.pending.length > 0 && <> · {z.pending.length} change(s) waiting for “Apply cluster update”</>}
              </p>
              <p class="complete">
                Common data (generation {z?.generation ?? 0}): {ready} of {zn.length} node(s) complete
              </p>
              <table class="nodes">
                <caption class="sr-only">Nodes of {name}</caption>
                <thead>
                  <tr><th scope="col">Node</th><th scope="col">Liveness</th><th scope="col">Systems (share of the zone)</th><th scope="col">Online</th><th scope="col">Capacity</th></tr>
                </thead>
                <tbody>
                  {zn.map((n) => (
                    <tr key={n.name} data-node={n.name}>
                      <th scope="row">
                        <a href={href('search', undefined, { q: `node:${n.name}` })}>{n.name}</a>
                        <div class="fqdn">{n.fqdn}</div>
                      </th>
                      <td>
                        <span class={`status status-${n.status}`} data-testid={`status-${n.name}`}>{n.status}</span>
                        {n.faulty && <span class="faulty"> faulty ({n.faulty})</span>}
                        {!n.common_ready && <span class="faulty"> common data incomplete</span>}
                      </td>
                      <td><Bar label={`${n.name} systems`} value={n.systems} max={Math.max(total, 1)} /></td>
                      <td><Bar label={`${n.name} online`} value={n.online} max={Math.max(n.systems, 1)} tone="online" /></td>
                      <td>
                        <Bar label={`${n.name} capacity`} value={n.capacity} max={Math.max(cap, 1)} tone="cap" />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </article>
          );
        })}
      </div>
    </>
  );
}

export function Events({ events }: { events: ClusterEvent[] }) {
  if (events.length === 0) return <p class="muted">Nothing changed since this gateway started watching.</p>;
  return (
    <ol class="events" aria-live="polite">
      {events.slice(0, 30).map((e, i) => (
        <li key={`${e.at_ms}-${i}`} class={`ev-${e.kind}`}>
          <time>{when(e.at_ms)}</time> <span>{e.text}</span>
        </li>
      ))}
    </ol>
  );
}
