// The gateway's REST API (/api/v1, same origin). The session key lives in sessionStorage
// (one tab, gone when the tab closes) and goes out as a bearer token.

export interface NodeView {
  name: string;
  zone: string;
  slot: number | null;
  uyuni_api: string;
  status: string;
  systems: number;
  online: number;
  fqdn: string;
  capacity: number;
  faulty?: string;
  common_ready: boolean;
}

/** What "Apply cluster update" published (`POST /api/v1/zones/{zone}/publish`). */
export interface PublishedView {
  zone: string;
  leader: string;
  generation: number;
  published: string[];
}

export interface ZoneView {
  name: string;
  mode: string;
  leader?: string;
  lease_expires_ms: number;
  generation: number;
  pending: string[];
  orphans: number;
}

export interface SystemRecord {
  fingerprint: string;
  minion_id: string;
  hostname: string;
  status: string;
  banned?: boolean;
  node?: string | null;
  previous_node?: string | null;
  zone?: string | null;
  tags?: string[];
  groups?: string[];
  channels?: string[];
  registered_at: number;
  updated_at: number;
}

export interface SearchPage {
  total: number;
  systems: SystemRecord[];
  next?: string;
}

export interface FacetCount {
  value: string;
  count: number;
}

export interface Facets {
  total: number;
  zone: FacetCount[];
  node: FacetCount[];
  status: FacetCount[];
}

export interface ClusterEvent {
  at_ms: number;
  kind: string;
  zone: string;
  node?: string;
  text: string;
}

export interface NodeHistory {
  node: string;
  zone: string;
  samples: { at_ms: number; systems: number; online: number; alive: number }[];
}

export interface SessionInfo {
  user: string;
  roles: string[];
  expires_ms: number;
}

export interface RepoStatus {
  zone: string;
  name: string;
  version: number;
  files: number;
  bytes: number;
  removed: boolean;
  subscribers: string[];
  complete_on: string[];
  updated_at: number;
}

/** One repository on one node, as the node's content store reports it. */
export interface NodeRepo {
  repo: string;
  version: number;
  files: number;
  bytes: number;
  complete: boolean;
  files_present: number;
  bytes_present: number;
  fetching: boolean;
  last_error?: string | null;
}

/** One node's content store (`GET /api/v1/content/nodes`). */
export interface NodeContent {
  node: string;
  zone: string;
  status: string;
  repos: NodeRepo[];
  clm: Record<string, string> | null;
  error?: string;
}

export interface Drift {
  repo: string;
  path: string;
  problem: string;
  action: string;
}

/** What a node's content verification found. */
export interface VerifyAnswer {
  node: string;
  report: { repos: number; files: number; manifests?: number; bytes: number; ok: number; drift: Drift[] };
}

export interface ImportJob {
  id: number;
  name: string;
  state: string;
  files_total: number;
  files_done: number;
  bytes_total: number;
  bytes_done: number;
  error?: string;
}

export interface JobAnswer {
  node: string;
  job: ImportJob;
}

export interface ClmVersion {
  version: number;
  id: string;
  saved_by: string;
  size: number;
  saved_at: number;
}

/** A zone's Content Lifecycle project. */
export interface ClmProject {
  zone: string;
  project: string;
  versions: ClmVersion[];
  applied: { version_id: string; applied_by: string; applied_at: number } | null;
  imported: Record<string, string>;
}

/** The apply record a CLM apply wrote. */
export interface ClmApplied {
  zone: string;
  project: string;
  version_id: string;
  applied_by: string;
  applied_at: number;
}

export interface CommonView {
  kind: string;
  key: string;
  generation: number;
  deleted: boolean;
  published_by: string;
  updated_at: number;
}

export interface BulkReport {
  matched: number;
  changed: number;
}

export interface NodeLink {
  node: string;
  fqdn: string;
  sid: number;
  url: string;
}

/** An API answer other than success: its status and the gateway's own words. */
export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
  ) {
    super(message);
  }
}

const KEY = 'uyuni-cluster-session';
let onExpired: () => void = () => {};

/** Called when the gateway no longer knows the session (expired, logged out elsewhere). */
export function setOnExpired(f: () => void) {
  onExpired = f;
}

export function sessionKey(): string | null {
  return sessionStorage.getItem(KEY);
}

async function call<T>(method: string, path: string, body?: unknown, auth = true): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const key = sessionKey();
  if (auth && key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, `the gateway did not answer: ${(e as Error).message}`);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const msg = (json as { error?: string } | undefined)?.error ?? (text || res.statusText);
    if (res.status === 401 && auth) {
      sessionStorage.removeItem(KEY);
      onExpired();
    }
    throw new ApiError(res.status, msg);
  }
  return json as T;
}

const enc = encodeURIComponent;

export const api = {
  async login(username: string, password: string): Promise<void> {
    const a = await call<{ session: string }>('POST', '/api/v1/login', { username, password }, false);
    sessionStorage.setItem(KEY, a.session);
  },
  async logout(): Promise<void> {
    try {
      await call<void>('POST', '/api/v1/logout', undefined);
    } finally {
      sessionStorage.removeItem(KEY);
    }
  },
  session: () => call<SessionInfo>('GET', '/api/v1/session'),
  nodes: () => call<NodeView[]>('GET', '/api/v1/nodes'),
  zones: () => call<ZoneView[]>('GET', '/api/v1/zones'),
  events: (sinceMs = 0) => call<ClusterEvent[]>('GET', `/api/v1/events?since_ms=${sinceMs}`),
  common: (zone: string) => call<CommonView[]>('GET', `/api/v1/zones/${enc(zone)}/common`),
  claimLease: (zone: string, node: string) =>
    call<ZoneView>('POST', `/api/v1/zones/${enc(zone)}/lease`, { node }),
  releaseLease: (zone: string) => call<ZoneView>('DELETE', `/api/v1/zones/${enc(zone)}/lease`),
  publish: (zone: string) => call<PublishedView>('POST', `/api/v1/zones/${enc(zone)}/publish`, {}),
  repos: () => call<RepoStatus[]>('GET', '/api/v1/content/repos'),
  contentNodes: () => call<NodeContent[]>('GET', '/api/v1/content/nodes'),
  verify: (node: string, repair = false) =>
    call<VerifyAnswer>('POST', '/api/v1/content/verify', { node, repair }),
  importRepo: (node: string, path: string, name: string) =>
    call<JobAnswer>('POST', '/api/v1/content/import', { node, path, name }),
  job: (node: string, id: number) => call<JobAnswer>('GET', `/api/v1/content/jobs/${enc(node)}/${id}`),
  clm: () => call<ClmProject[]>('GET', '/api/v1/clm'),
  clmSave: (zone: string, project: string, node: string) =>
    call<{ zone: string; project: string; version: number; saved_by: string; size: number; saved_at: number }>(
      'POST',
      `/api/v1/clm/${enc(zone)}/${enc(project)}/save`,
      { node },
    ),
  clmApply: (zone: string, project: string, version?: number) =>
    call<ClmApplied>('POST', `/api/v1/clm/${enc(zone)}/${enc(project)}/apply`, { version }),
  history: () => call<NodeHistory[]>('GET', '/api/v1/history'),
  setMode: (zone: string, mode: string) =>
    call<ZoneView>('POST', `/api/v1/zones/${enc(zone)}/mode`, { mode }),
  search: (q: string, limit = 200, cursor?: string) =>
    call<SearchPage>(
      'GET',
      `/api/v1/systems?q=${enc(q)}&limit=${limit}${cursor ? `&cursor=${enc(cursor)}` : ''}`,
    ),
  facets: (q: string) => call<Facets>('GET', `/api/v1/systems/facets?q=${enc(q)}`),
  system: (fp: string) => call<SystemRecord>('GET', `/api/v1/systems/${enc(fp)}`),
  nodeLink: (fp: string) => call<NodeLink>('GET', `/api/v1/systems/${enc(fp)}/node-link`),
  bulk: (q: string, action: string, tags: string[] = []) =>
    call<BulkReport>('POST', '/api/v1/systems/bulk', { q, action, tags }),
};

/** The query that matches exactly one system. */
export function fpQuery(fp: string): string {
  return `fp:"${fp.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
