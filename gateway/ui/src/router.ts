import { useEffect, useState } from 'preact/hooks';

// Pages live in the URL's hash (`#/search?q=tag:db`): the gateway serves one HTML route,
// and a reload or a fresh login comes back to the same page.

export interface Route {
  page: string;
  arg: string;
  params: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const h = hash.replace(/^#\/?/, '');
  const [path, query = ''] = h.split('?', 2);
  const [page = '', ...rest] = path.split('/');
  return {
    page: page || 'overview',
    arg: rest.map(decodeURIComponent).join('/'),
    params: new URLSearchParams(query),
  };
}

export function href(page: string, arg?: string, params?: Record<string, string>): string {
  let h = `#/${page}`;
  if (arg) h += `/${encodeURIComponent(arg)}`;
  const p = params ? new URLSearchParams(params).toString() : '';
  return p ? `${h}?${p}` : h;
}

export function useRoute(): Route {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const f = () => setHash(location.hash);
    addEventListener('hashchange', f);
    return () => removeEventListener('hashchange', f);
  }, []);
  return parseHash(hash);
}
