/** A Unix-ms time as local date and time; 0 is "never". */
export function when(ms: number): string {
  if (!ms) return 'never';
  return new Date(ms).toLocaleString('en-GB', { hour12: false });
}

/** How far `ms` is from `now`, in words ("in 4 min", "12 s ago"). */
export function relative(ms: number, now = Date.now()): string {
  const d = Math.round((ms - now) / 1000);
  const a = Math.abs(d);
  const t = a < 60 ? `${a} s` : a < 3600 ? `${Math.round(a / 60)} min` : `${Math.round(a / 3600)} h`;
  return d >= 0 ? `in ${t}` : `${t} ago`;
}
