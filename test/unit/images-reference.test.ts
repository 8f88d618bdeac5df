// Image reference parsing (Docker's grammar).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatRef, parseRef, splitRepository } from '../../images/reference.ts';

const D = 'sha256:' + 'ab'.repeat(32);

describe('parseRef', () => {
  it('parses names, tags, registries and digests', () => {
    assert.deepEqual(parseRef('busybox'), { repository: 'busybox', tag: 'latest' });
    assert.deepEqual(parseRef('busybox:1.36'), { repository: 'busybox', tag: '1.36' });
    assert.deepEqual(parseRef('user/app:v1_2-rc.3'), { repository: 'user/app', tag: 'v1_2-rc.3' });
    assert.deepEqual(parseRef('host:5000/ns/name:tag'), { repository: 'host:5000/ns/name', tag: 'tag' });
    assert.deepEqual(parseRef('host:5000/ns/name'), { repository: 'host:5000/ns/name', tag: 'latest' });
    assert.deepEqual(parseRef('localhost/app'), { repository: 'localhost/app', tag: 'latest' });
    assert.deepEqual(parseRef(`name@${D}`), { repository: 'name', digest: D });
    assert.deepEqual(parseRef(`name:t@${D}`), { repository: 'name', tag: 't', digest: D });
    assert.deepEqual(parseRef('a.b_c__d--e'), { repository: 'a.b_c__d--e', tag: 'latest' });
    assert.deepEqual(parseRef('[::1]:5000/x'), { repository: '[::1]:5000/x', tag: 'latest' });
  });

  it('keeps familiar names for Docker Hub', () => {
    assert.deepEqual(parseRef('docker.io/library/busybox:1'), { repository: 'busybox', tag: '1' });
    assert.deepEqual(parseRef('index.docker.io/library/busybox'), { repository: 'busybox', tag: 'latest' });
    assert.deepEqual(parseRef('docker.io/user/app'), { repository: 'user/app', tag: 'latest' });
    assert.deepEqual(splitRepository('busybox'), { domain: 'docker.io', path: 'library/busybox' });
    assert.deepEqual(splitRepository('user/app'), { domain: 'docker.io', path: 'user/app' });
    assert.deepEqual(splitRepository('ghcr.io/o/r'), { domain: 'ghcr.io', path: 'o/r' });
    assert.equal(formatRef(parseRef(`x:1@${D}`)), `x:1@${D}`);
  });

  it('rejects invalid references with a clear message', () => {
    const bad: [string, RegExp][] = [
      ['', /empty reference/],
      ['Busybox', /repository name must be lowercase/],
      ['user/App', /repository name must be lowercase/],
      ['name:', /invalid tag ""/],
      ['name:.tag', /invalid tag ".tag"/],
      ['name:' + 't'.repeat(129), /invalid tag/],
      ['name@sha256:abc', /digest must be sha256/],
      ['-name', /invalid repository name component "-name"/],
      ['name_', /invalid repository name component/],
      ['a//b', /empty path component/],
      ['with space', /white space/],
      ['host:port/x', /invalid registry host "host:port"/],
      ['x'.repeat(256), /longer than 255/],
    ];
    for (const [ref, re] of bad) {
      assert.throws(() => parseRef(ref), (e: Error & { code?: string }) => {
        assert.match(e.message, re, ref);
        assert.match(e.message, /^invalid reference format/);
        assert.equal(e.code, 'INVALID_ARGUMENT');
        return true;
      });
    }
  });
});
