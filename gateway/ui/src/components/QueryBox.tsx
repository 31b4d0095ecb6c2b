import { useState } from 'preact/hooks';
import { complete, Known } from '../query';

/** The search box: the cluster's query language with completion of keys and values
 *  (arrow keys move through the suggestions, Tab or Enter takes one). */
export function QueryBox({ value, known, onSubmit }: { value: string; known: Known; onSubmit: (q: string) => void }) {
  const [q, setQ] = useState(value);
  const [sel, setSel] = useState(-1);
  const [open, setOpen] = useState(false);
  const sugg = open ? complete(q, known) : [];
  const take = (s: string) => {
    setQ(s);
    setSel(-1);
  };
  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'ArrowDown' && sugg.length) {
      e.preventDefault();
      setSel((sel + 1) % sugg.length);
    } else if (e.key === 'ArrowUp' && sugg.length) {
      e.preventDefault();
      setSel((sel - 1 + sugg.length) % sugg.length);
    } else if ((e.key === 'Tab' || e.key === 'Enter') && sel >= 0 && sugg[sel]) {
      e.preventDefault();
      take(sugg[sel]);
    } else if (e.key === 'Escape') {
      setOpen(false);
    }
  };
  return (
    <form
      class="querybox"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        setOpen(false);
        onSubmit(q.trim());
      }}
    >
      <label for="q" class="sr-only">Search systems</label>
      <input
        id="q"
        name="q"
        type="search"
        role="combobox"
        aria-expanded={sugg.length > 0}
        aria-controls="q-suggestions"
        aria-autocomplete="list"
        aria-activedescendant={sel >= 0 ? `q-s-${sel}` : undefined}
        placeholder="tag:db and zone:dc1, web*.acme.org, status:new …"
        autoComplete="off"
        spellcheck={false}
        value={q}
        onInput={(e) => {
          setQ((e.target as HTMLInputElement).value);
          setOpen(true);
          setSel(-1);
        }}
        onKeyDown={onKey}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
      />
      <button type="submit">Search</button>
      {sugg.length > 0 && (
        <ul id="q-suggestions" role="listbox" class="suggestions" aria-label="Suggestions">
          {sugg.map((s, i) => (
            <li
              id={`q-s-${i}`}
              key={s}
              role="option"
              aria-selected={i === sel}
              class={i === sel ? 'selected' : ''}
              onMouseDown={(e) => {
                e.preventDefault();
                take(s);
              }}
            >
              {s}
            </li>
          ))}
        </ul>
      )}
    </form>
  );
}
