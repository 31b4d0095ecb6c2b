import { api, NodeLink, SystemRecord } from '../api';
import { ErrorBox } from '../components/ErrorBox';
import { when } from '../format';
import { usePoll } from '../poll';
import { href } from '../router';

/** One system's record and the way to its node's own Uyuni page. */
export function System({ fp }: { fp: string }) {
  const sys = usePoll(() => api.system(fp), 2000, [fp]);
  const link = usePoll(() => api.nodeLink(fp), 0, [fp, sys.data?.node]);
  return (
    <section aria-labelledby="sys-title">
      <p><a href={href('search')}>← Search</a></p>
      <ErrorBox error={sys.error} />
      {sys.data && <Record s={sys.data} link={link.data} linkError={link.error} />}
    </section>
  );
}

export function Record({ s, link, linkError }: { s: SystemRecord; link?: NodeLink; linkError?: string }) {
  const list = (xs?: string[]) => (xs && xs.length ? xs.join(', ') : '—');
  return (
    <>
      <h1 id="sys-title">{s.minion_id}</h1>
      <dl class="record">
        <dt>Status</dt><dd data-testid="sys-status">{s.banned ? `${s.status} (banned)` : s.status}</dd>
        <dt>Node</dt><dd data-testid="sys-node">{s.node ?? '—'}</dd>
        <dt>Previous node</dt><dd>{s.previous_node ?? '—'}</dd>
        <dt>Zone</dt><dd>{s.zone ?? '—'}</dd>
        <dt>Host name</dt><dd>{s.hostname}</dd>
        <dt>Tags</dt><dd>{list(s.tags)}</dd>
        <dt>Groups</dt><dd>{list(s.groups)}</dd>
        <dt>Channels</dt><dd>{list(s.channels)}</dd>
        <dt>Registered</dt><dd>{when(s.registered_at)}</dd>
        <dt>Last change</dt><dd>{when(s.updated_at)}</dd>
        <dt>Key fingerprint</dt><dd class="mono">{s.fingerprint}</dd>
      </dl>
      {link ? (
        <p>
          <a class="button" href={link.url} target="_blank" rel="noopener" data-testid="open-on-node">
            Open on node {link.node} (system {link.sid})
          </a>
        </p>
      ) : (
        linkError && <p class="muted" role="note">Open on node: {linkError}</p>
      )}
    </>
  );
}
