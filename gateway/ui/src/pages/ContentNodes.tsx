import { useState } from 'preact/hooks';
import { api, ApiError, NodeContent, VerifyAnswer } from '../api';
import { Bar } from '../components/Bar';
import { ErrorBox } from '../components/ErrorBox';

/** Each node's content store: per repository how much of it the node holds (files, MiB),
 *  whether it is fetching and its last error; a Verify button per node with its result. */
export function ContentNodes({ rows, verify = api.verify }: { rows: NodeContent[]; verify?: typeof api.verify }) {
  if (rows.length === 0) return <p class="muted">No Uyuni node in the cluster.</p>;
  return (
    <table class="nodes">
      <caption class="sr-only">Content per node</caption>
      <thead>
        <tr><th scope="col">Node</th><th scope="col">Repositories held</th><th scope="col">Verify</th></tr>
      </thead>
      <tbody>
        {rows.map((n) => (
          <tr key={n.node} data-content-node={n.node}>
            <th scope="row">{n.node}<div class="fqdn">{n.zone} · {n.status}</div></th>
            <td>
              {n.error && <p class="error" role="alert">{n.error}</p>}
              {!n.error && n.repos.length === 0 && <span class="muted">none to hold</span>}
              {n.repos.map((r) => {
                // The node that imported a repository holds it without fetching: no progress.
                const files = r.complete ? r.files : r.files_present;
                const bytes = r.complete ? r.bytes : r.bytes_present;
                return (
                  <div key={r.repo} data-node-repo={`${n.node}:${r.repo}`}>
                    <Bar label={`${r.repo} v${r.version} on ${n.node}`} value={files} max={Math.max(r.files, 1)} tone={r.complete ? '' : 'warn'} />
                    <div class="fqdn">
                      <code>{r.repo}</code> v{r.version} {r.complete ? 'complete' : r.fetching ? 'fetching' : 'incomplete'}: {files} of {r.files} file(s),{' '}
                      {(bytes / 1048576).toFixed(1)} of {(r.bytes / 1048576).toFixed(1)} MiB
                      {r.last_error && <> — last error: {r.last_error}</>}
                    </div>
                  </div>
                );
              })}
            </td>
            <td><VerifyCell node={n.node} up={n.status === 'alive' || n.status === 'suspect'} verify={verify} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function VerifyCell({ node, up, verify }: { node: string; up: boolean; verify: typeof api.verify }) {
  const [busy, setBusy] = useState(false);
  const [repair, setRepair] = useState(false);
  const [result, setResult] = useState<VerifyAnswer>();
  const [error, setError] = useState<string>();
  const run = async () => {
    setBusy(true);
    setError(undefined);
    try {
      setResult(await verify(node, repair));
    } catch (e) {
      setResult(undefined);
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div>
      <button type="button" data-testid={`verify-${node}`} disabled={busy || !up} onClick={run}>
        {busy ? 'Verifying…' : `Verify ${node}`}
      </button>
      <label class="inline">
        <input type="checkbox" checked={repair} onChange={(e) => setRepair((e.target as HTMLInputElement).checked)} /> repair
      </label>
      <ErrorBox error={error} />
      {result && <VerifyResult r={result} />}
    </div>
  );
}

/** A verification's report in words: what was checked and every difference found. */
export function VerifyResult({ r }: { r: VerifyAnswer }) {
  const { report } = r;
  return (
    <div role="status" data-testid={`verified-${r.node}`}>
      <strong>{report.drift.length === 0 ? 'No drift' : `${report.drift.length} difference(s)`}</strong>: {report.repos} repo(s),{' '}
      {report.files} file(s){report.manifests ? ` and ${report.manifests} manifest(s)` : ''} checked, {report.ok} correct,{' '}
      {(report.bytes / 1048576).toFixed(1)} MiB read.
      {report.drift.length > 0 && (
        <ul>
          {report.drift.map((d) => (
            <li key={`${d.repo}/${d.path}`}><code>{d.repo}/{d.path}</code>: {d.problem}, {d.action}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
