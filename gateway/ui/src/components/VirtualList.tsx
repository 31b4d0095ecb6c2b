import { useState } from 'preact/hooks';

/** Only the rows in view (plus a margin) are in the DOM: a million hits scroll like ten.
 *  `onEnd` asks for the next page when the last loaded rows come into view. */
export function VirtualList<T>({
  items,
  rowHeight,
  height,
  render,
  onEnd,
  label,
}: {
  items: T[];
  rowHeight: number;
  height: number;
  render: (item: T, index: number) => preact.ComponentChildren;
  onEnd?: () => void;
  label: string;
}) {
  const [top, setTop] = useState(0);
  const first = Math.max(0, Math.floor(top / rowHeight) - 10);
  const last = Math.min(items.length, Math.ceil((top + height) / rowHeight) + 10);
  if (onEnd && last >= items.length - 5 && items.length > 0) queueMicrotask(onEnd);
  return (
    <div
      class="vlist"
      role="list"
      aria-label={label}
      tabIndex={0}
      style={{ height: `${height}px` }}
      onScroll={(e) => setTop((e.currentTarget as HTMLElement).scrollTop)}
    >
      <div style={{ height: `${items.length * rowHeight}px`, position: 'relative' }}>
        {items.slice(first, last).map((it, i) => (
          <div
            role="listitem"
            class="vrow"
            key={first + i}
            style={{ position: 'absolute', top: `${(first + i) * rowHeight}px`, height: `${rowHeight}px`, left: 0, right: 0 }}
          >
            {render(it, first + i)}
          </div>
        ))}
      </div>
    </div>
  );
}
