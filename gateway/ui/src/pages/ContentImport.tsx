import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, ImportJob, NodeView } from '../api';
import { Bar } from '../components/Bar';
import { ErrorBox } from '../components/ErrorBox';

/** Import a package tree that lies on a node's host (under its `content.import_roots`) into
 *  the node's zone; the job's progress until it is done or failed. */
export function ContentImport({ nodes }: { nodes: NodeView[] }) {
  const up = nodes.filter((n) => n.status === 'alive');
  const [node, setNode] = useState('');
  const [path, setPath] = useState('');
  const [name, setName] = useState('');
  const [job, setJob] = useState<{ node: string; job: ImportJob }>();
  const [error, setError] = useState<string>();
  const pick = node || up[0]?.name || '';
  useEffect(() => {
    if (!job || job.job.state === 'done' || job.job.state === 'failed') return;
    const t = setTimeout(async () => {
      try {
        setJob(await api.job(job.node, job.job.id));
      } catch (e) {
        setError(e instanceof ApiError ? e.message : String(e));
      }
    }, 500);
    return () => clearTimeout(t);
  }, [job]);
  const start = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      setJob(await api.importRepo(pick, path, name));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };
  return (
    <form class="bulk" onSubmit={start} aria-labelledby="imp-title">
      <h3 id="imp-title" class="sr-only">Import</h3>
      <label>
        Import on node
        <select value={pick} onChange={(e) => setNode((e.target as HTMLSelectElement).value)}>
          {up.map((n) => <option key={n.name} value={n.name}>{n.name}</option>)}
        </select>
      </label>
      <label>
        Directory on its host
        <input value={path} required placeholder="/srv/import/tools" onInput={(e) => setPath((e.target as HTMLInputElement).value)} />
      </label>
      <label>
        Repository name
        <input value={name} required pattern="[A-Za-z0-9._\-]+" onInput={(e) => setName((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit" disabled={!pick}>Import</button>
      <ErrorBox error={error} />
      {job && (
        <div role="status" data-testid="import-job">
          {job.node}: {job.job.name} {job.job.state}
          {job.job.error && <> — {job.job.error}</>}
          <Bar label={`import of ${job.job.name}`} value={job.job.files_done} max={Math.max(job.job.files_total, 1)} />
        </div>
      )}
    </form>
  );
}
