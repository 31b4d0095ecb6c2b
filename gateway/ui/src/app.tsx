import { useEffect, useState } from 'preact/hooks';
import { api, sessionKey, SessionInfo, setOnExpired } from './api';
import { Charts } from './pages/Charts';
import { Content } from './pages/Content';
import { Login } from './pages/Login';
import { Overview } from './pages/Overview';
import { Pool } from './pages/Pool';
import { Search } from './pages/Search';
import { System } from './pages/System';
import { Zones } from './pages/Zones';
import { href, useRoute } from './router';

const NAV: [string, string][] = [
  ['overview', 'Overview'],
  ['search', 'Search'],
  ['pool', 'Onboarding pool'],
  ['zones', 'Zones'],
  ['content', 'Content'],
  ['charts', 'Charts'],
];

export function App() {
  const [authed, setAuthed] = useState(!!sessionKey());
  const [expired, setExpired] = useState(false);
  const [me, setMe] = useState<SessionInfo>();
  const route = useRoute();
  useEffect(() => {
    // The URL (hash) stays as it is: after logging in again the user is where they were.
    setOnExpired(() => {
      setAuthed(false);
      setExpired(true);
    });
  }, []);
  useEffect(() => {
    if (authed) api.session().then(setMe).catch(() => {});
  }, [authed]);
  if (!authed) return <Login expired={expired} onDone={() => (setAuthed(true), setExpired(false))} />;
  let page;
  switch (route.page) {
    case 'search':
      page = <Search q={route.params.get('q') ?? ''} />;
      break;
    case 'system':
      page = <System fp={route.arg} />;
      break;
    case 'pool':
      page = <Pool />;
      break;
    case 'zones':
      page = <Zones />;
      break;
    case 'content':
      page = <Content />;
      break;
    case 'charts':
      page = <Charts />;
      break;
    default:
      page = <Overview />;
  }
  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <span class="brand">Uyuni cluster</span>
        <nav aria-label="Pages">
          {NAV.map(([p, label]) => (
            <a key={p} href={href(p)} aria-current={route.page === p ? 'page' : undefined}>{label}</a>
          ))}
        </nav>
        <span class="me">
          {me && <span title={me.roles.join(', ')}>{me.user}</span>}
          <button
            type="button"
            onClick={async () => {
              await api.logout().catch(() => {});
              setAuthed(false);
              setExpired(false);
              setMe(undefined);
            }}
          >
            Log out
          </button>
        </span>
      </header>
      <main id="main">{page}</main>
    </>
  );
}
