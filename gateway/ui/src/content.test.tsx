import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/preact';

afterEach(cleanup);
import { ContentNodes, VerifyResult } from './pages/ContentNodes';
import { ClmRow } from './pages/Clm';
import { ApiError, type NodeView } from './api';

const node = (name: string, zone: string, status = 'alive'): NodeView => ({
  name, zone, status, systems: 0, online: 0, slot: 0, uyuni_api: '', fqdn: `uyuni-${name}.sandbox.test`, capacity: 1, common_ready: true,
});

describe('Content on each node', () => {
  const rows = [
    {
      node: 'dc1-peer1', zone: 'dc1', status: 'alive', clm: {},
      repos: [{ repo: 'dc1/tools', version: 2, files: 4, bytes: 2097152, complete: false, files_present: 3, bytes_present: 1048576, fetching: true, last_error: null }],
    },
    { node: 'dc1-peer2', zone: 'dc1', status: 'down', clm: {}, repos: [], error: 'dc1-peer2 is down: not asked' },
  ];
  it('shows each node’s progress per repository and why a node did not report', () => {
    render(<ContentNodes rows={rows} />);
    expect(screen.getByRole('meter', { name: 'dc1/tools v2 on dc1-peer1' }).getAttribute('aria-valuenow')).toBe('3');
    expect(screen.getByText(/fetching: 3 of 4 file\(s\), 1.0 of 2.0 MiB/)).toBeTruthy();
    expect(screen.getByRole('alert').textContent).toBe('dc1-peer2 is down: not asked');
    expect((screen.getByTestId('verify-dc1-peer2') as HTMLButtonElement).disabled).toBe(true);
  });
  it('verifies a node and shows what it found; an error shows where it happened', async () => {
    const verify = vi.fn()
      .mockResolvedValueOnce({ node: 'dc1-peer1', report: { repos: 1, files: 4, bytes: 2097152, ok: 3, drift: [{ repo: 'dc1/tools', path: 'a.rpm', problem: 'missing', action: 'reported' }] } })
      .mockRejectedValueOnce(new ApiError(403, 'bob may not verify a node’s content: that needs the satellite_admin role'));
    render(<ContentNodes rows={rows} verify={verify} />);
    fireEvent.click(screen.getByTestId('verify-dc1-peer1'));
    await waitFor(() => screen.getByTestId('verified-dc1-peer1'));
    expect(verify).toHaveBeenCalledWith('dc1-peer1', false);
    expect(screen.getByTestId('verified-dc1-peer1').textContent).toContain('1 difference(s)');
    expect(screen.getByText(/a.rpm/).closest('li')?.textContent).toContain('missing, reported');
    fireEvent.click(screen.getByTestId('verify-dc1-peer1'));
    await waitFor(() => screen.getByText(/satellite_admin/));
  });
  it('says when nothing drifted', () => {
    render(<VerifyResult r={{ node: 'n', report: { repos: 1, files: 4, bytes: 0, ok: 4, drift: [] } }} />);
    expect(screen.getByRole('status').textContent).toContain('No drift');
  });
});

describe('CLM', () => {
  const p = {
    zone: 'dc1', project: 'sles-prod',
    versions: [
      { version: 1, id: '0000000001.dc1-peer1', saved_by: 'dc1-peer1', size: 100, saved_at: 0 },
      { version: 2, id: '0000000002.dc1-peer1', saved_by: 'dc1-peer1', size: 120, saved_at: 0 },
    ],
    applied: { version_id: '0000000001.dc1-peer1', applied_by: 'dc1-peer1', applied_at: 0 },
    imported: { 'dc1-peer1': '0000000001.dc1-peer1', 'dc1-peer2': '0000000000.x' },
  };
  it('shows the applied version, how many nodes imported it, and applies after a confirmation', async () => {
    const apply = vi.fn().mockResolvedValue({ zone: 'dc1', project: 'sles-prod', version_id: '0000000002.dc1-peer1', applied_by: 'dc1-peer2', applied_at: 1 });
    const done = vi.fn();
    render(<table><tbody><ClmRow p={p} nodes={[node('dc1-peer1', 'dc1'), node('dc1-peer2', 'dc1')]} onDone={done} apply={apply} /></tbody></table>);
    expect(screen.getByRole('meter', { name: 'dc1/sles-prod imported on' }).getAttribute('aria-valuenow')).toBe('1');
    fireEvent.click(screen.getByTestId('clm-apply-dc1/sles-prod'));
    expect(screen.getByRole('dialog').textContent).toContain('Every node of dc1 (2) imports version 2');
    fireEvent.click(screen.getByText('Apply the version'));
    await waitFor(() => screen.getByTestId('clm-done-dc1/sles-prod'));
    expect(apply).toHaveBeenCalledWith('dc1', 'sles-prod', 2);
    expect(done).toHaveBeenCalled();
  });
});
