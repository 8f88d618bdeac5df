// A fake tdockd for the CLI tests and startup benchmarks: a real grpc-js server on
// a unix socket, implementing enough of tdock.v1 to drive the commands end to end.
// Containers "run" a tiny script given by their command:
//   echo ARGS...     prints ARGS to stdout, exits 0
//   err MSG          prints MSG to stderr, exits 0
//   exit N           exits N
//   cat              echoes stdin until closeStdin, exits 0
//   sleep            runs until killed (exit 128+N for signal N)
//   missing          cannot start: exit.error set, exit code 127
//   top ARGS...      runs until killed; `top` shows ARGS as its command line
//   missing-as ARGS  like missing, with ARGS (raw) as the command in the error
// Standalone: node test/unit/cli-fake-daemon.ts SOCKET_PATH (for benchmarks).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadApi } from '../../proto/api.ts';
import type * as api from '../../proto/api.ts';

const SIGNALS: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, KILL: 9, USR1: 10, USR2: 12, TERM: 15 };

interface FakeContainer {
  id: string;
  name: string;
  image: string;
  cmd: string[];
  created: number;
  state: string;
  exitCode: number;
  ports: api.PortMapping[];
  req: api.CreateRequest;
  attached: grpc.ServerDuplexStream<api.AttachInput, api.AttachOutput>[];
  onStdin?: (b: Buffer) => void;
  onCloseStdin?: () => void;
  /** stdin that arrived before the script ran (a real daemon keeps it in the pipe) */
  pendingStdin?: Buffer[];
  stdinClosed?: boolean;
  onKill?: (sig: number) => void;
  exited?: Promise<api.ExitStatus>;
  resolveExit?: (s: api.ExitStatus) => void;
  logs: api.OutputFrame[];
}

export interface FakeDaemon {
  host: string;
  socket: string;
  containers: Map<string, FakeContainer>;
  calls: { method: string; request: unknown }[];
  images: api.ImageSummary[];
  imported: { start?: api.ImportStart; bytes: number; chunks: number; maxChunk: number }[];
  close(): Promise<void>;
}

function notFound(what: string): grpc.ServiceError {
  return Object.assign(new Error(what), { code: grpc.status.NOT_FOUND, details: what, metadata: new grpc.Metadata() });
}

export async function startFakeDaemon(socketPath?: string): Promise<FakeDaemon> {
  const dir = socketPath ? undefined : mkdtempSync(join(tmpdir(), 'tdock-fake-'));
  const socket = socketPath ?? join(dir!, 'tdock.sock');
  const containers = new Map<string, FakeContainer>();
  const calls: FakeDaemon['calls'] = [];
  const images: api.ImageSummary[] = [
    { id: `sha256:${'ab'.repeat(32)}`, repository: 'alpine', tag: 'latest', created: Math.floor(Date.now() / 1000) - 7200, size: 4_264_000, digest: '', labels: [] },
  ];
  const imported: FakeDaemon['imported'] = [];

  const find = (ref: string): FakeContainer => {
    for (const c of containers.values()) {
      if (c.id === ref || c.name === ref || (ref.length >= 3 && c.id.startsWith(ref))) return c;
    }
    throw notFound(`No such container: ${ref}`);
  };
  const log = (method: string, request: unknown) => calls.push({ method, request });
  const send = (c: FakeContainer, stream: api.StreamName, text: string | Buffer) => {
    const frame = { stream, data: Buffer.from(text), timeNs: Date.now() * 1e6 };
    c.logs.push(frame);
    for (const s of c.attached) s.write({ output: frame });
  };
  const finish = (c: FakeContainer, st: api.ExitStatus) => {
    c.state = 'exited';
    c.exitCode = st.exitCode;
    for (const s of c.attached) {
      s.write({ exit: st });
      s.end();
    }
    c.attached = [];
    if (c.req.autoRemove) containers.delete(c.id);
    c.resolveExit!(st);
  };
  const runScript = (c: FakeContainer) => {
    c.state = 'running';
    const [prog, ...args] = c.cmd;
    setImmediate(() => {
      switch (prog) {
        case 'echo':
          send(c, 'STDOUT', `${args.join(' ')}\n`);
          return finish(c, { exitCode: 0, oomKilled: false, error: '' });
        case 'err':
          send(c, 'STDERR', `${args.join(' ')}\n`);
          return finish(c, { exitCode: 0, oomKilled: false, error: '' });
        case 'exit':
          return finish(c, { exitCode: Number(args[0] ?? 0), oomKilled: false, error: '' });
        case 'cat':
          c.onStdin = (b) => send(c, 'STDOUT', b);
          c.onCloseStdin = () => finish(c, { exitCode: 0, oomKilled: false, error: '' });
          for (const b of c.pendingStdin ?? []) c.onStdin(b);
          if (c.stdinClosed) c.onCloseStdin();
          return;
        case 'sleep':
        case 'top':
          c.onKill = (sig) => finish(c, { exitCode: 128 + sig, oomKilled: false, error: '' });
          return;
        case 'missing':
          return finish(c, { exitCode: 127, oomKilled: false, error: 'exec: "missing": executable file not found in $PATH' });
        case 'missing-as':
          return finish(c, { exitCode: 127, oomKilled: false, error: `exec: "${args.join(' ')}": executable file not found in $PATH` });
        default:
          return finish(c, { exitCode: 0, oomKilled: false, error: '' });
      }
    });
  };

  const containersImpl: grpc.UntypedServiceImplementation = {
    Create(call: grpc.ServerUnaryCall<api.CreateRequest, api.CreateResponse>, cb: grpc.sendUnaryData<api.CreateResponse>) {
      const r = call.request;
      log('Create', r);
      if (r.image === 'nosuchimage') return cb(notFound(`No such image: ${r.image}`));
      if (r.name && [...containers.values()].some((c) => c.name === r.name)) {
        return cb({ code: grpc.status.ALREADY_EXISTS, details: `Conflict: the container name "${r.name}" is already in use`, metadata: new grpc.Metadata() } as grpc.ServiceError);
      }
      const id = randomBytes(32).toString('hex');
      let resolveExit!: (s: api.ExitStatus) => void;
      const exited = new Promise<api.ExitStatus>((res) => (resolveExit = res));
      containers.set(id, {
        id, name: r.name || `fake_${id.slice(0, 6)}`, image: r.image, cmd: r.cmd, created: Math.floor(Date.now() / 1000),
        state: 'created', exitCode: 0, ports: r.ports, req: r, attached: [], exited, resolveExit, logs: [],
      });
      cb(null, { id, name: r.name, warnings: [] });
    },
    Start(call: grpc.ServerUnaryCall<api.ContainerRef, api.Empty>, cb: grpc.sendUnaryData<api.Empty>) {
      log('Start', call.request);
      try {
        const c = find(call.request.id);
        if (c.state === 'created') runScript(c);
        cb(null, {});
      } catch (e) {
        cb(e as grpc.ServiceError);
      }
    },
    Kill(call: grpc.ServerUnaryCall<api.KillRequest, api.Empty>, cb: grpc.sendUnaryData<api.Empty>) {
      log('Kill', call.request);
      try {
        const c = find(call.request.id);
        const name = call.request.signal.replace(/^SIG/, '') || 'KILL';
        const n = SIGNALS[name] ?? Number(name);
        c.onKill?.(n);
        cb(null, {});
      } catch (e) {
        cb(e as grpc.ServiceError);
      }
    },
    Stop(call: grpc.ServerUnaryCall<api.StopRequest, api.Empty>, cb: grpc.sendUnaryData<api.Empty>) {
      log('Stop', call.request);
      try {
        const c = find(call.request.id);
        c.onKill?.(15);
        cb(null, {});
      } catch (e) {
        cb(e as grpc.ServiceError);
      }
    },
    Remove(call: grpc.ServerUnaryCall<api.RemoveRequest, api.Empty>, cb: grpc.sendUnaryData<api.Empty>) {
      log('Remove', call.request);
      try {
        containers.delete(find(call.request.id).id);
        cb(null, {});
      } catch (e) {
        cb(e as grpc.ServiceError);
      }
    },
    List(call: grpc.ServerUnaryCall<api.ListRequest, api.ListResponse>, cb: grpc.sendUnaryData<api.ListResponse>) {
      log('List', call.request);
      const list = [...containers.values()]
        .filter((c) => call.request.all || c.state === 'running')
        .map((c) => ({
          id: c.id, name: c.name, image: c.image, command: c.cmd.join(' '), created: c.created, state: c.state,
          status: c.state === 'running' ? 'Up 2 seconds' : c.state === 'exited' ? `Exited (${c.exitCode}) 1 second ago` : 'Created',
          ports: c.ports, pid: 0, exitCode: c.exitCode, oomKilled: false, labels: [], networks: [], mounts: [], imageId: '', createdMs: 0,
        }));
      cb(null, { containers: list });
    },
    Inspect(call: grpc.ServerUnaryCall<api.ContainerRef, api.InspectResponse>, cb: grpc.sendUnaryData<api.InspectResponse>) {
      log('Inspect', call.request);
      try {
        const c = find(call.request.id);
        const doc = {
          Id: c.id, Name: `/${c.name}`, Image: c.image,
          State: { Status: c.state, Running: c.state === 'running', ExitCode: c.exitCode },
          Config: { Tty: c.req.tty, OpenStdin: c.req.openStdin, Cmd: c.cmd },
        };
        cb(null, { json: JSON.stringify(doc) });
      } catch (e) {
        cb(e as grpc.ServiceError);
      }
    },
    async Wait(call: grpc.ServerUnaryCall<api.ContainerRef, api.WaitResponse>, cb: grpc.sendUnaryData<api.WaitResponse>) {
      log('Wait', call.request);
      try {
        const c = find(call.request.id);
        const st = await c.exited!;
        cb(null, { exitCode: st.exitCode, oomKilled: st.oomKilled, error: '' });
      } catch (e) {
        cb(e as grpc.ServiceError);
      }
    },
    Logs(call: grpc.ServerWritableStream<api.LogsRequest, api.OutputFrame>) {
      log('Logs', call.request);
      try {
        const c = find(call.request.id);
        const frames = call.request.tail >= 0 ? c.logs.slice(-call.request.tail || c.logs.length) : c.logs;
        for (const f of call.request.tail === 0 ? [] : frames) call.write(f);
        call.end();
      } catch (e) {
        call.emit('error', e);
      }
    },
    Attach(call: grpc.ServerDuplexStream<api.AttachInput, api.AttachOutput>) {
      let c: FakeContainer | undefined;
      call.on('data', (m: api.AttachInput & { msg?: string }) => {
        const kind = m.msg;
        if (kind === 'start' && 'start' in m) {
          log('Attach', m.start);
          try {
            c = find(m.start.id);
          } catch (e) {
            call.emit('error', e);
            return;
          }
          c.attached.push(call);
          call.write({ attached: true });
        } else if (kind === 'stdin' && 'stdin' in m && c) {
          if (c.onStdin) c.onStdin(m.stdin);
          else (c.pendingStdin ??= []).push(m.stdin);
        } else if (kind === 'closeStdin' && c) {
          if (c.onCloseStdin) c.onCloseStdin();
          else c.stdinClosed = true;
        }
        else if (kind === 'resize' && 'resize' in m) log('Resize', m.resize);
      });
      call.on('end', () => call.end());
      call.on('error', () => {});
    },
    Exec(call: grpc.ServerDuplexStream<api.AttachInput, api.AttachOutput>) {
      call.on('data', (m: api.AttachInput & { msg?: string }) => {
        if (m.msg !== 'start' || !('start' in m)) return;
        log('Exec', m.start);
        try {
          find(m.start.id);
        } catch (e) {
          call.emit('error', e);
          return;
        }
        const cmd = m.start.exec?.cmd ?? [];
        call.write({ attached: true });
        if (m.start.exec?.detach) return call.end();
        call.write({ output: { stream: 'STDOUT', data: Buffer.from(`${cmd.join(' ')}\n`), timeNs: 0 } });
        call.write({ exit: { exitCode: cmd[0] === 'false' ? 1 : 0, oomKilled: false, error: '' } });
        call.end();
      });
      call.on('error', () => {});
    },
    Top(call: grpc.ServerUnaryCall<api.ContainerRef, api.TopResponse>, cb: grpc.sendUnaryData<api.TopResponse>) {
      try {
        const c = find(call.request.id);
        // "top ARGS...": a container whose process shows ARGS as its command line
        const cmdline = c.cmd[0] === 'top' ? c.cmd.slice(1).join(' ') : 'sleep 1000';
        cb(null, { titles: ['PID', 'USER', 'CMD'], processes: [{ cols: ['4242', 'root', cmdline] }] });
      } catch (e) {
        cb(e as grpc.ServiceError);
      }
    },
    Port(call: grpc.ServerUnaryCall<api.ContainerRef, api.PortResponse>, cb: grpc.sendUnaryData<api.PortResponse>) {
      try {
        cb(null, { ports: find(call.request.id).ports });
      } catch (e) {
        cb(e as grpc.ServiceError);
      }
    },
  };

  const imagesImpl: grpc.UntypedServiceImplementation = {
    List(_call: grpc.ServerUnaryCall<api.Empty, api.ImageListResponse>, cb: grpc.sendUnaryData<api.ImageListResponse>) {
      log('Images.List', {});
      cb(null, { images });
    },
    Pull(call: grpc.ServerWritableStream<api.PullRequest, api.PullProgress>) {
      log('Pull', call.request);
      if (call.request.ref.startsWith('nosuch')) {
        call.emit('error', notFound(`manifest for ${call.request.ref} not found`));
        return;
      }
      call.write({ id: 'layer1', status: 'Downloading', current: 10, total: 100, imageId: '' });
      call.write({ id: 'layer1', status: 'Downloading', current: 100, total: 100, imageId: '' });
      call.write({ id: 'layer1', status: 'Pull complete', current: 0, total: 0, imageId: '' });
      call.write({ id: '', status: `Downloaded ${call.request.ref}`, current: 0, total: 0, imageId: `sha256:${'cd'.repeat(32)}` });
      call.end();
    },
    Import(call: grpc.ServerDuplexStream<api.ImportChunk, api.PullProgress>) {
      const rec: FakeDaemon['imported'][number] = { bytes: 0, chunks: 0, maxChunk: 0 };
      imported.push(rec);
      call.on('data', (m: api.ImportChunk & { msg?: string }) => {
        if ('start' in m && m.msg === 'start') rec.start = m.start;
        else if ('data' in m && m.msg === 'data') {
          rec.bytes += m.data.length;
          rec.chunks++;
          rec.maxChunk = Math.max(rec.maxChunk, m.data.length);
        }
      });
      call.on('end', () => {
        call.write({ id: '', status: 'Imported', current: rec.bytes, total: rec.bytes, imageId: `sha256:${'ef'.repeat(32)}` });
        call.end();
      });
      call.on('error', () => {});
    },
    Remove(call: grpc.ServerUnaryCall<api.ImageRemoveRequest, api.ImageRemoveResponse>, cb: grpc.sendUnaryData<api.ImageRemoveResponse>) {
      if (call.request.ref !== 'alpine') return cb(notFound(`No such image: ${call.request.ref}`));
      cb(null, { untagged: ['alpine:latest'], deleted: [images[0]!.id] });
    },
    Inspect(call: grpc.ServerUnaryCall<api.ImageRef, api.InspectResponse>, cb: grpc.sendUnaryData<api.InspectResponse>) {
      if (call.request.ref !== 'alpine') return cb(notFound(`No such image: ${call.request.ref}`));
      cb(null, { json: JSON.stringify({ Id: images[0]!.id, RepoTags: ['alpine:latest'] }) });
    },
  };

  const systemImpl: grpc.UntypedServiceImplementation = {
    Version(_c: unknown, cb: grpc.sendUnaryData<api.VersionResponse>) {
      cb(null, { version: '0.1.0-fake', apiVersion: 'tdock.v1', nodeVersion: process.version, os: 'linux', arch: 'amd64', kernel: '6.0.0' });
    },
    Info(_c: unknown, cb: grpc.sendUnaryData<api.InfoResponse>) {
      cb(null, { json: JSON.stringify({ Containers: containers.size, Images: images.length, ServerVersion: '0.1.0-fake', Driver: 'overlay2', Runtimes: { 'tdock-shim': {} } }) });
    },
  };

  const server = new grpc.Server();
  const pkg = loadApi();
  server.addService(pkg.Containers.service, containersImpl);
  server.addService(pkg.Images.service, imagesImpl);
  server.addService(pkg.System.service, systemImpl);
  await new Promise<void>((res, rej) =>
    server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())),
  );
  return {
    host: `unix://${socket}`,
    socket,
    containers,
    calls,
    images,
    imported,
    close: () =>
      new Promise<void>((res) => {
        server.forceShutdown();
        if (dir) rmSync(dir, { recursive: true, force: true });
        res();
      }),
  };
}

if (import.meta.main) {
  const path = process.argv[2];
  if (!path) {
    process.stderr.write('usage: cli-fake-daemon.ts SOCKET_PATH\n');
    process.exit(2);
  }
  rmSync(path, { force: true });
  const d = await startFakeDaemon(path);
  // a few containers so that `ps` has something to render
  for (const name of ['web', 'db', 'cache']) {
    d.containers.set(name.padEnd(64, '0'), {
      id: randomBytes(32).toString('hex'), name, image: 'alpine:latest', cmd: ['sleep', '1000'], created: Math.floor(Date.now() / 1000) - 30,
      state: 'running', exitCode: 0, ports: [{ hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
      req: {} as api.CreateRequest, attached: [], logs: [],
    });
  }
  process.stdout.write(`listening on unix://${path}\n`);
}
