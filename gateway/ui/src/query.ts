// Completion for the search box: keys of the query language (docs/SEARCH.md) and the values
// the cluster knows (zones, nodes, statuses, tags seen). Pure, unit-tested.

export const KEYS = ['tag', 'group', 'channel', 'zone', 'node', 'status', 'name', 'fp'];
export const STATUSES = ['new', 'onboarded', 'orphan', 'deleted'];

export interface Known {
  zone: string[];
  node: string[];
  status: string[];
  tag: string[];
  group: string[];
}

/** The word being typed at the end of `q`: where it starts and its text. */
export function lastWord(q: string): { start: number; word: string } {
  const m = /[^\s()!]*$/.exec(q);
  const word = m ? m[0] : '';
  return { start: q.length - word.length, word };
}

/** Suggestions for the end of `q`, at most `max`, each the whole new query. */
export function complete(q: string, known: Known, max = 8): string[] {
  const { start, word } = lastWord(q);
  const head = q.slice(0, start);
  const colon = word.indexOf(':');
  if (colon < 0) {
    if (!word) return [];
    const lw = word.toLowerCase();
    const keys = KEYS.filter((k) => k.startsWith(lw)).map((k) => `${head}${k}:`);
    const ops = ['and', 'or', 'not'].filter((o) => o.startsWith(lw) && o !== lw).map((o) => `${head}${o} `);
    return [...keys, ...ops].slice(0, max);
  }
  const key = word.slice(0, colon).toLowerCase();
  const prefix = word.slice(colon + 1).replace(/^"/, '');
  const values = (known as unknown as Record<string, string[]>)[key] ?? [];
  return [...new Set(values)]
    .filter((v) => v.startsWith(prefix) && v !== prefix)
    .sort()
    .slice(0, max)
    .map((v) => `${head}${key}:${/[\s():"]/.test(v) ? `"${v}"` : v}`);
}

/** `q` narrowed to one facet value. */
export function narrow(q: string, key: string, value: string): string {
  const term = `${key}:${/[\s():"]/.test(value) ? `"${value}"` : value}`;
  const t = q.trim();
  if (!t) return term;
  return /\bor\b|\|\|/i.test(t) ? `(${t}) and ${term}` : `${t} and ${term}`;
}
