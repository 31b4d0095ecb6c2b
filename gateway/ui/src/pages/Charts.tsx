import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { api, NodeHistory } from '../api';
import { ErrorBox } from '../components/ErrorBox';
import { usePoll } from '../poll';

const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

/** Systems per node, systems online by agent heartbeat, and liveness over the last hour (the
 *  gateway samples every 10 s). */
export function Charts() {
  const h = usePoll(api.history, 10_000);
  return (
    <section aria-labelledby="c-title">
      <h1 id="c-title">Load and liveness, last hour</h1>
      <ErrorBox error={h.error} />
      {h.data && (
        <>
          <Chart title="Systems assigned per node" data={h.data} pick={(s) => s.systems} />
          <Chart title="Systems online per node (agents heartbeating)" data={h.data} pick={(s) => s.online} />
          <Chart title="Nodes answering heartbeats (1 alive, 0 not)" data={h.data} pick={(s) => s.alive} />
          <Table data={h.data} />
        </>
      )}
    </section>
  );
}

/** Align every node's samples on one time axis (10 s buckets). */
export function align(data: NodeHistory[], pick: (s: NodeHistory['samples'][0]) => number): uPlot.AlignedData {
  const times = [...new Set(data.flatMap((n) => n.samples.map((s) => Math.floor(s.at_ms / 10_000) * 10)))].sort((a, b) => a - b);
  const series = data.map((n) => {
    const m = new Map(n.samples.map((s) => [Math.floor(s.at_ms / 10_000) * 10, pick(s)]));
    return times.map((t) => m.get(t) ?? null);
  });
  return [times, ...series] as uPlot.AlignedData;
}

function Chart({ title, data, pick }: { title: string; data: NodeHistory[]; pick: (s: NodeHistory['samples'][0]) => number }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current) return;
    const width = Math.min(el.current.clientWidth || 800, 1100);
    const plot = new uPlot(
      {
        width,
        height: 240,
        series: [{}, ...data.map((n, i) => ({ label: n.node, stroke: COLOURS[i % COLOURS.length], width: 2 }))],
        axes: [{}, { size: 50 }],
      },
      align(data, pick),
      el.current,
    );
    return () => plot.destroy();
  }, [data]);
  return (
    <figure>
      <figcaption>{title}</figcaption>
      <div ref={el} aria-hidden="true" />
    </figure>
  );
}

/** The same numbers as text, for screen readers and for reading. */
function Table({ data }: { data: NodeHistory[] }) {
  return (
    <table class="nodes">
      <caption>Latest sample per node</caption>
      <thead><tr><th scope="col">Node</th><th scope="col">Zone</th><th scope="col">Systems</th><th scope="col">Online</th><th scope="col">Alive</th><th scope="col">Samples</th></tr></thead>
      <tbody>
        {data.map((n) => {
          const last = n.samples[n.samples.length - 1];
          return (
            <tr key={n.node}><th scope="row">{n.node}</th><td>{n.zone}</td><td>{last?.systems ?? '—'}</td><td>{last?.online ?? '—'}</td><td>{last ? (last.alive ? 'yes' : 'no') : '—'}</td><td>{n.samples.length}</td></tr>
          );
        })}
      </tbody>
    </table>
  );
}
