import { describe, expect, it } from 'vitest';
import { complete, lastWord, narrow } from './query';
import { parseHash, href } from './router';
import { fpQuery } from './api';

const known = { zone: ['dc1', 'store1'], node: ['dc1-peer1', 'dc1-peer2'], status: ['new', 'onboarded'], tag: ['db', 'web'], group: [] };

describe('completion', () => {
  it('completes keys and operators', () => {
    expect(complete('st', known)).toEqual(['status:', 'store1'].filter((s) => s === 'status:'));
    expect(complete('tag:db a', known)).toEqual(['tag:db and ']);
  });
  it('completes the values the cluster knows', () => {
    expect(complete('zone:', known)).toEqual(['zone:dc1', 'zone:store1']);
    expect(complete('tag:db and node:dc1-', known)).toEqual(['tag:db and node:dc1-peer1', 'tag:db and node:dc1-peer2']);
    expect(complete('status:n', known)).toEqual(['status:new']);
  });
  it('offers nothing for an empty word or a finished value', () => {
    expect(complete('', known)).toEqual([]);
    expect(complete('tag:db ', known)).toEqual([]);
    expect(complete('zone:dc1', known)).toEqual([]);
  });
  it('finds the last word', () => {
    expect(lastWord('(tag:db or ta')).toEqual({ start: 11, word: 'ta' });
  });
});

describe('narrowing by a facet', () => {
  it('adds a term, bracketing an or', () => {
    expect(narrow('', 'zone', 'dc1')).toBe('zone:dc1');
    expect(narrow('tag:db', 'status', 'new')).toBe('tag:db and status:new');
    expect(narrow('tag:db or tag:web', 'zone', 'dc1')).toBe('(tag:db or tag:web) and zone:dc1');
    expect(narrow('x', 'tag', 'two words')).toBe('x and tag:"two words"');
  });
});

describe('routes', () => {
  it('round-trips pages, arguments and queries', () => {
    expect(parseHash('').page).toBe('overview');
    const r = parseHash(href('search', undefined, { q: 'tag:db and zone:dc1' }));
    expect(r.page).toBe('search');
    expect(r.params.get('q')).toBe('tag:db and zone:dc1');
    expect(parseHash(href('system', 'AB:CD/1')).arg).toBe('AB:CD/1');
  });
  it('quotes a fingerprint for the query language', () => {
    expect(fpQuery('AB:CD')).toBe('fp:"AB:CD"');
  });
});
