import { api, NodeView, RepoStatus } from '../api';
import { Bar } from '../components/Bar';
import { ErrorBox } from '../components/ErrorBox';
import { when } from '../format';
import { usePoll } from '../poll';
import { ClmProjects } from './Clm';
import { ContentImport } from './ContentImport';
import { ContentNodes } from './ContentNodes';

/** Content and CLM: repositories per zone and how complete each is on the nodes that should
 *  hold it; each node's content store with progress and a Verify button; imports; the zones'
 *  CLM projects with their versions and apply. */
export function Content() {
  const repos = usePoll(api.repos, 2000);
  const nodes = usePoll(api.nodes, 2000);
  const held = usePoll(api.contentNodes, 3000);
  const clm = usePoll(api.clm, 2000);
  return (
    <section aria-labelledby="ct-title">
      <h1 id="ct-title">Content and CLM</h1>
      <h2>Repositories</h2>
      <ErrorBox error={repos.error ?? nodes.error} />
      {repos.data && nodes.data && <RepoTable repos={repos.data} nodes={nodes.data} />}
      <h2>Import</h2>
      <ContentImport nodes={nodes.data ?? []} />
      <h2>On each node</h2>
      <ErrorBox error={held.error} />
      {held.data && <ContentNodes rows={held.data} />}
      <h2>Content Lifecycle projects</h2>
      <ErrorBox error={clm.error} />
      {clm.data && <ClmProjects projects={clm.data} nodes={nodes.data ?? []} onDone={clm.reload} />}
    </section>
  );
}

export function RepoTable({ repos, nodes }: { repos: RepoStatus[]; nodes: NodeView[] }) {
  if (repos.length === 0) return <p class="muted">No repository has been imported.</p>;
  return (
    <table class="nodes">
      <caption class="sr-only">Repositories</caption>
      <thead>
        <tr><th scope="col">Repository</th><th scope="col">Version</th><th scope="col">Files</th><th scope="col">MiB</th><th scope="col">Complete on</th><th scope="col">Changed</th></tr>
      </thead>
      <tbody>
        {repos.map((r) => {
          const zones = new Set([r.zone, ...r.subscribers]);
          const want = nodes.filter((n) => zones.has(n.zone)).map((n) => n.name);
          const have = want.filter((n) => r.complete_on.includes(n));
          const missing = want.filter((n) => !r.complete_on.includes(n));
          const id = `${r.zone}/${r.name}`;
          return (
            <tr key={id} data-repo={id}>
              <th scope="row">{id}{r.removed && ' (removed)'}{r.subscribers.length > 0 && <div class="fqdn">also {r.subscribers.join(', ')}</div>}</th>
              <td>{r.version}</td>
              <td>{r.files}</td>
              <td>{(r.bytes / 1048576).toFixed(1)}</td>
              <td>
                <Bar label={`${id} complete on`} value={have.length} max={Math.max(want.length, 1)} />
                <div class="fqdn">{have.length} of {want.length} node(s){missing.length > 0 && <>; waiting: {missing.join(', ')}</>}</div>
              </td>
              <td>{when(r.updated_at)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
