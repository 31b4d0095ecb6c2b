import { useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { Confirm } from './Confirm';
import { ErrorBox } from './ErrorBox';

export const ACTIONS = ['tag', 'untag', 'accept', 'reject', 'ban', 'unregister'];

/** Act on every system a query matches, after a confirmation naming how many. */
export function BulkBar({ q, total, onDone }: { q: string; total: number; onDone: () => void }) {
  const [action, setAction] = useState('tag');
  const [tags, setTags] = useState('');
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  const tagList = tags.split(/[\s,]+/).filter(Boolean);
  const needsTags = action === 'tag' || action === 'untag';
  const run = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const r = await api.bulk(q, action, needsTags ? tagList : []);
      setDone(`${action}: ${r.changed} of ${r.matched} system(s) changed`);
      onDone();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
      setAsking(false);
    }
  };
  return (
    <div class="bulk" role="group" aria-label="Act on every match">
      <label>
        Action on all {total.toLocaleString('en')} matches
        <select value={action} onChange={(e) => setAction((e.target as HTMLSelectElement).value)}>
          {ACTIONS.map((a) => (
            <option key={a} value={a}>{a}</option>
          ))}
        </select>
      </label>
      {needsTags && (
        <label>
          Tags
          <input value={tags} placeholder="db, web" onInput={(e) => setTags((e.target as HTMLInputElement).value)} />
        </label>
      )}
      <button type="button" disabled={total === 0 || (needsTags && tagList.length === 0)} onClick={() => setAsking(true)}>
        Apply…
      </button>
      {done && <span role="status" class="ok">{done}</span>}
      <ErrorBox error={error} />
      {asking && (
        <Confirm
          title={`${action} ${total.toLocaleString('en')} system(s)?`}
          confirmLabel={`${action} ${total.toLocaleString('en')} system(s)`}
          busy={busy}
          onConfirm={run}
          onCancel={() => setAsking(false)}
        >
          <p>
            This will <strong>{action}</strong>
            {needsTags && <> “{tagList.join(', ')}”</>} on every system matching <code>{q || '(everything)'}</code>:{' '}
            <strong>{total.toLocaleString('en')}</strong> system(s). The action is recorded in the audit log.
          </p>
        </Confirm>
      )}
    </div>
  );
}
