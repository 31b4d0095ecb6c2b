import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/preact';
import { ClusterView, Events } from './pages/Overview';
import { Record } from './pages/System';
import { Bar } from './components/Bar';
import { Confirm } from './components/Confirm';
import { VirtualList } from './components/VirtualList';
import { QueryBox } from './components/QueryBox';
import { align } from './pages/Charts';
import { RepoTable } from './pages/Content';
import type { NodeView, ZoneView } from './api';

const node = (name: string, zone: string, status: string, systems: number): NodeView => ({
  name, zone, status, systems, online: systems, slot: 0, uyuni_api: '', fqdn: `uyuni-${name}.sandbox.test`, capacity: 1, common_ready: true,
});
const zone = (name: string, mode: string, leader?: string): ZoneView => ({
  name, mode, leader, lease_expires_ms: leader ? 2_000_000 : 0, generation: 1, pending: [], orphans: 0,
});

describe('Overview', () => {
  it('shows every node of every zone with its liveness, mode and leader', () => {
    render(
      <ClusterView
        now={1_000_000}
        nodes={[node('dc1-peer1', 'dc1', 'alive', 4), node('dc1-peer2', 'dc1', 'suspect', 2), node('store1-peer1', 'store1', 'down', 0)]}
        zones={[zone('dc1', 'production', 'dc1-peer1'), zone('store1', 'disaster-recovery')]}
      />,
    );
    expect(screen.getByTestId('status-dc1-peer2').textContent).toBe('suspect');
    expect(screen.getByTestId('status-store1-peer1').textContent).toBe('down');
    expect(screen.getByTestId('mode-store1').textContent).toBe('disaster-recovery');
    expect(screen.getByTestId('alive-count').textContent).toBe('1 / 3');
    expect(screen.getByText('dc1-peer1', { selector: 'strong' })).toBeTruthy();
    expect(screen.getByRole('meter', { name: 'dc1-peer1 systems' }).getAttribute('aria-valuenow')).toBe('4');
  });
  it('says when nothing changed', () => {
    render(<Events events={[]} />);
    expect(screen.getByText(/Nothing changed/)).toBeTruthy();
  });
});

describe('System', () => {
  it('shows the record and the node link', () => {
    render(
      <Record
        s={{ fingerprint: 'AB', minion_id: 'web1', hostname: 'web1.acme.org', status: 'onboarded', node: 'dc1-peer2', tags: ['db'], registered_at: 0, updated_at: 0 }}
        link={{ node: 'dc1-peer2', fqdn: 'uyuni-dc1-peer2.sandbox.test', sid: 1000010001, url: 'https://uyuni-dc1-peer2.sandbox.test/rhn/systems/details/Overview.do?sid=1000010001' }}
      />,
    );
    const a = screen.getByTestId('open-on-node') as HTMLAnchorElement;
    expect(a.href).toBe('https://uyuni-dc1-peer2.sandbox.test/rhn/systems/details/Overview.do?sid=1000010001');
    expect(screen.getByTestId('sys-node').textContent).toBe('dc1-peer2');
  });
  it('explains a missing node link', () => {
    render(<Record s={{ fingerprint: 'AB', minion_id: 'x', hostname: 'x', status: 'new', registered_at: 0, updated_at: 0 }} linkError="x is on no node yet (status new)" />);
    expect(screen.getByRole('note').textContent).toContain('on no node yet');
  });
});

describe('Content', () => {
  it('counts the nodes of the zone and its subscribers holding a repository', () => {
    render(
      <RepoTable
        nodes={[node('dc1-peer1', 'dc1', 'alive', 0), node('dc1-peer2', 'dc1', 'alive', 0), node('store1-peer1', 'store1', 'alive', 0)]}
        repos={[{ zone: 'dc1', name: 'tools', version: 2, files: 5, bytes: 1048576, removed: false, subscribers: [], complete_on: ['dc1-peer1'], updated_at: 0 }]}
      />,
    );
    expect(screen.getByRole('meter', { name: 'dc1/tools complete on' }).getAttribute('aria-valuenow')).toBe('1');
    expect(screen.getByText(/1 of 2 node\(s\); waiting: dc1-peer2/)).toBeTruthy();
  });
});

describe('components', () => {
  it('a bar reads out its value', () => {
    render(<Bar label="load" value={3} max={10} />);
    expect(screen.getByRole('meter', { name: 'load' }).getAttribute('aria-valuemax')).toBe('10');
  });
  it('a confirmation names the count and cancels on Escape', () => {
    const ok = vi.fn();
    const cancel = vi.fn();
    render(<Confirm title="ban 1,234 system(s)?" confirmLabel="ban 1,234 system(s)" onConfirm={ok} onCancel={cancel} />);
    expect(screen.getByRole('dialog').textContent).toContain('1,234');
    fireEvent.click(screen.getByText('ban 1,234 system(s)'));
    expect(ok).toHaveBeenCalled();
    fireEvent.keyDown(window, { key: 'Escape' });
    expect(cancel).toHaveBeenCalled();
  });
  it('a virtual list renders only the rows in view of a million', () => {
    const items = Array.from({ length: 1_000_000 }, (_, i) => i);
    render(<VirtualList label="many" items={items} rowHeight={30} height={300} render={(i) => <span>row {i}</span>} />);
    expect(screen.getAllByRole('listitem').length).toBeLessThan(40);
    expect(screen.getByText('row 0')).toBeTruthy();
  });
  it('the query box suggests and submits', () => {
    const submit = vi.fn();
    render(<QueryBox value="" known={{ zone: ['dc1'], node: [], status: ['new'], tag: [], group: [] }} onSubmit={submit} />);
    const box = screen.getByRole('combobox');
    fireEvent.input(box, { target: { value: 'status:n' } });
    expect(screen.getByRole('option').textContent).toBe('status:new');
    fireEvent.keyDown(box, { key: 'ArrowDown' });
    fireEvent.keyDown(box, { key: 'Enter' });
    fireEvent.submit(box.closest('form')!);
    expect(submit).toHaveBeenCalledWith('status:new');
  });
  it('charts align samples on one time axis', () => {
    const d = align(
      [
        { node: 'a', zone: 'z', samples: [{ at_ms: 10_000, systems: 1, online: 1, alive: 1 }, { at_ms: 20_000, systems: 2, online: 2, alive: 1 }] },
        { node: 'b', zone: 'z', samples: [{ at_ms: 20_000, systems: 5, online: 0, alive: 0 }] },
      ],
      (s) => s.systems,
    );
    expect(d).toEqual([[10, 20], [1, 2], [null, 5]]);
  });
});
