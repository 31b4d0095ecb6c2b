/** A labelled bar: `value` of `max`, read out as "label: value of max". */
export function Bar({ label, value, max, tone }: { label: string; value: number; max: number; tone?: string }) {
  const pct = max > 0 ? Math.min(100, (value / max) * 100) : 0;
  return (
    <div class="bar" role="meter" aria-label={label} aria-valuenow={value} aria-valuemin={0} aria-valuemax={max}>
      <span class="bar-label">{label}</span>
      <span class="bar-track">
        <span class={`bar-fill ${tone ?? ''}`} style={{ width: `${pct}%` }} />
      </span>
      <span class="bar-value">{value.toLocaleString('en')}</span>
    </div>
  );
}
