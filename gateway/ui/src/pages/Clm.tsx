import { useState } from 'preact/hooks';
import { api, ApiError, ClmProject, NodeView } from '../api';
import { Bar } from '../components/Bar';
import { Confirm } from '../components/Confirm';
import { ErrorBox } from '../components/ErrorBox';
import { when } from '../format';

/** The zones' Content Lifecycle projects: saved versions, the applied one, which node imported
 *  it; apply a version to a zone (after a confirmation), save a new version from a node. */
export function ClmProjects({ projects, nodes, onDone }: { projects: ClmProject[]; nodes: NodeView[]; onDone: () => void }) {
  return (
    <>
      {projects.length === 0 ? (
        <p class="muted">No CLM project saved yet.</p>
      ) : (
        <table class="nodes">
          <caption class="sr-only">CLM projects</caption>
          <thead>
            <tr><th scope="col">Project</th><th scope="col">Versions</th><th scope="col">Applied</th><th scope="col">Imported on</th><th scope="col">Apply</th></tr>
          </thead>
          <tbody>
            {projects.map((p) => (
              <ClmRow key={`${p.zone}/${p.project}`} p={p} nodes={nodes.filter((n) => n.zone === p.zone)} onDone={onDone} />
            ))}
          </tbody>
        </table>
      )}
      <ClmSave nodes={nodes} onDone={onDone} />
    </>
  );
}

export function ClmRow({ p, nodes, onDone, apply = api.clmApply }: { p: ClmProject; nodes: NodeView[]; onDone: () => void; apply?: typeof api.clmApply }) {
  const id = `${p.zone}/${p.project}`;
  const latest = p.versions.at(-1);
  const [version, setVersion] = useState<number>();
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string>();
  const [error, setError] = useState<string>();
  const v = version ?? latest?.version;
  const applied = p.applied?.version_id;
  const have = applied ? nodes.filter((n) => p.imported[n.name] === applied).length : 0;
  const run = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const a = await apply(p.zone, p.project, v);
      setDone(`${a.applied_by} applied ${a.version_id} to ${a.zone}: every node of ${a.zone} imports it.`);
      onDone();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
      setAsking(false);
    }
  };
  return (
    <tr data-clm={id}>
      <th scope="row">{id}</th>
      <td>
        {p.versions.length} saved{latest && <div class="fqdn">latest v{latest.version} from {latest.saved_by}, {when(latest.saved_at)}</div>}
      </td>
      <td data-testid={`clm-applied-${id}`}>
        {p.applied ? <>{applied}<div class="fqdn">by {p.applied.applied_by}, {when(p.applied.applied_at)}</div></> : <span class="muted">none</span>}
      </td>
      <td>
        {p.applied ? (
          <>
            <Bar label={`${id} imported on`} value={have} max={Math.max(nodes.length, 1)} />
            <div class="fqdn">{have} of {nodes.length} node(s)</div>
          </>
        ) : (
          <span class="muted">—</span>
        )}
      </td>
      <td>
        <label>
          Version
          <select value={v} onChange={(e) => setVersion(Number((e.target as HTMLSelectElement).value))}>
            {p.versions.map((x) => <option key={x.id} value={x.version}>v{x.version}</option>)}
          </select>
        </label>
        <button type="button" data-testid={`clm-apply-${id}`} disabled={!latest} onClick={() => setAsking(true)}>
          Apply…
        </button>
        <ErrorBox error={error} />
        {done && <p role="status" data-testid={`clm-done-${id}`}>{done}</p>}
        {asking && (
          <Confirm title={`Apply ${p.project} v${v} to ${p.zone}?`} confirmLabel="Apply the version" busy={busy} onConfirm={run} onCancel={() => setAsking(false)}>
            <p>Every node of {p.zone} ({nodes.length}) imports version {v} of {p.project} into its Uyuni server; a node that is down imports it when it returns.</p>
          </Confirm>
        )}
      </td>
    </tr>
  );
}

function ClmSave({ nodes, onDone }: { nodes: NodeView[]; onDone: () => void }) {
  const up = nodes.filter((n) => n.status === 'alive');
  const [node, setNode] = useState('');
  const [project, setProject] = useState('');
  const [done, setDone] = useState<string>();
  const [error, setError] = useState<string>();
  const pick = node || up[0]?.name || '';
  const zone = nodes.find((n) => n.name === pick)?.zone ?? '';
  const save = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setDone(undefined);
    try {
      const s = await api.clmSave(zone, project, pick);
      setDone(`Saved ${s.zone}/${s.project} v${s.version} from ${s.saved_by}.`);
      onDone();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };
  return (
    <form class="bulk" onSubmit={save}>
      <label>
        Project label
        <input value={project} required pattern="[A-Za-z0-9._\-]+" onInput={(e) => setProject((e.target as HTMLInputElement).value)} />
      </label>
      <label>
        From node
        <select value={pick} onChange={(e) => setNode((e.target as HTMLSelectElement).value)}>
          {up.map((n) => <option key={n.name} value={n.name}>{n.name}</option>)}
        </select>
      </label>
      <button type="submit" disabled={!pick}>Save a version</button>
      <ErrorBox error={error} />
      {done && <p role="status" data-testid="clm-saved">{done}</p>}
    </form>
  );
}
