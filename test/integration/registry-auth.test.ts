// Registry pulls with token auth: a real docker-registry trusting the certificate of a
// small token service started here (RS256 JWTs with an x5c header). Anonymous pulls of a
// private repository are refused as unauthorized, `login` checks and stores credentials
// (0600), then pulls work; anonymous pulls of a public repository get a token too.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDb } from '../../daemon/store/db.ts';
import { ImageService } from '../../daemon/images.ts';
import { ImageStore } from '../../images/store.ts';
import { tarArchive } from '../../images/tar-writer.ts';
import { haveRegistry, Pusher, pushImage, startRegistry, startTokenService } from './registry-harness.ts';
import type { RegistryProcess, TokenService } from './registry-harness.ts';

const isRoot = process.getuid?.() === 0;
const SHIFT = { uid: 100000, gid: 100000, size: 65536 };
let haveOpenssl = true;
try {
  execFileSync('openssl', ['version'], { stdio: 'ignore' });
} catch {
  haveOpenssl = false;
}
const skip = !isRoot ? 'needs root' : !haveRegistry ? 'docker-registry is not installed' : !haveOpenssl ? 'openssl is not installed' : false;

describe('registry pulls with token auth', { skip }, () => {
  let scratch = '';
  let reg: RegistryProcess;
  let tokens: TokenService;

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'tdock-registry-auth-'));
    tokens = await startTokenService(scratch, { alice: 's3cret' });
    reg = await startRegistry(join(scratch, 'registry'), tokens.auth);
    const p = new Pusher(reg.base, { username: 'alice', password: 's3cret' });
    await pushImage(p, 'private/app', 'v1', [{ tar: tarArchive([{ path: 'secret', data: 'private' }]) }], { config: { Cmd: ['/secret'] } });
    await pushImage(p, 'public/tool', 'v1', [{ tar: tarArchive([{ path: 'tool', data: 'public' }]) }]);
  });
  after(async () => {
    await reg?.stop();
    await tokens?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('anonymous: public pulls work, private pulls are unauthorized', async () => {
    const root = join(scratch, 'root-anon');
    mkdirSync(root);
    const db = openDb(join(root, 'tdock.db'));
    const svc = new ImageService(new ImageStore(db, root, SHIFT), () => false, { catalog: join(scratch, 'none.json'), retryDelay: 10 });
    const pub = await svc.pull(`${reg.host}/public/tool:v1`);
    assert.equal(readFileSync(join(svc.store.layerDirs(pub.id)[0]!, 'tool'), 'utf8'), 'public');
    await assert.rejects(svc.pull(`${reg.host}/private/app:v1`), (e: Error & { code?: string }) => {
      assert.match(e.message, /^unauthorized: pull access denied for 127\.0\.0\.1:\d+\/private\/app/);
      assert.equal(e.code, 'FAILED_PRECONDITION');
      return true;
    });
    assert.ok(tokens.log.some((l) => l.url.includes('scope=repository%3Aprivate%2Fapp%3Apull') && !l.basic), 'asked the realm for a pull token');
    db.close();
  });

  it('login: wrong password refused, right one stored 0600 and used', async () => {
    const root = join(scratch, 'root-login');
    mkdirSync(root);
    const db = openDb(join(root, 'tdock.db'));
    const svc = new ImageService(new ImageStore(db, root, SHIFT), () => false, { catalog: join(scratch, 'none.json'), retryDelay: 10 });
    await assert.rejects(svc.login(reg.host, 'alice', 'wrong'), /unauthorized: incorrect username or password/);
    assert.deepEqual(svc.credentials.hosts(), []);
    assert.deepEqual(await svc.login(`http://${reg.host}/`, 'alice', 's3cret'), { server: reg.host, status: 'Login Succeeded' });
    const file = join(root, 'auth.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(readFileSync(file, 'utf8').includes(Buffer.from('alice:s3cret').toString('base64')));
    const img = await svc.pull(`${reg.host}/private/app:v1`);
    assert.equal(readFileSync(join(svc.store.layerDirs(img.id)[0]!, 'secret'), 'utf8'), 'private');
    assert.deepEqual((await svc.ensure(`${reg.host}/private/app:v1`)).config, { Cmd: ['/secret'] });
    assert.match(svc.logout(reg.host).status, /Removing login credentials/);
    assert.deepEqual(svc.credentials.hosts(), []);
    db.close();
  });
});
