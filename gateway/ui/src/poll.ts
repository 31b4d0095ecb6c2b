import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';

// Poll an API call every `everyMs` (the overview: 1 s) while the page is shown; the last
// good answer stays on screen when a call fails, with the error beside it.
export function usePoll<T>(f: () => Promise<T>, everyMs: number, deps: unknown[] = []) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const fn = useRef(f);
  fn.current = f;
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const d = await fn.current();
        if (!live) return;
        setData(d);
        setError(undefined);
      } catch (e) {
        if (!live) return;
        setError(e instanceof ApiError ? e.message : String(e));
      }
      if (live && everyMs > 0) timer = setTimeout(run, everyMs);
    };
    run();
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [everyMs, tick, ...deps]);
  return { data, error, reload: () => setTick((t) => t + 1) };
}
