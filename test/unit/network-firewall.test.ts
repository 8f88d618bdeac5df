import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  tableScript, addContainerScript, removeContainerScript, deleteTableScript, portElement, forwardRules, forwardPolicy, taggedRules,
  type Endpoint,
} from '../../daemon/network/firewall.ts';
import type { PortSpec } from '../../lib/ports.ts';
import { wireBatch, vethName, VETH_RE, nsenterIp } from '../../daemon/network/links.ts';
import { collides, inUseMessage } from '../../daemon/network/ports.ts';

const cfg = { table: 'tdock', bridge: 'tdock0', subnet: '10.89.0.0/16' };
const web: PortSpec[] = [
  { hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
  { hostIp: '127.0.0.1', hostPort: 5353, containerPort: 53, protocol: 'udp' },
  { hostIp: '0.0.0.0', hostPort: 8443, containerPort: 443, protocol: 'tcp' },
];

const a: Endpoint = { veth: 'td0123456789', mac: '02:42:0a:59:00:02', ip: '10.89.0.2', ports: web };
const b: Endpoint = { veth: 'tdabcdef0123', mac: '02:42:0a:59:00:03', ip: '10.89.0.3', ports: [] };

test('the tables: replaced atomically; loopback from the bridge dropped early, DNAT via maps, masquerades, forward; the port filter', () => {
  assert.equal(tableScript(cfg, [a, b]), `table ip tdock {}
delete table ip tdock
table bridge tdock {}
delete table bridge tdock
table ip tdock {
	comment "managed by tdockd (bridge tdock0): do not edit"
	chain raw {
		type filter hook prerouting priority raw; policy accept;
		iifname "tdock0" ip daddr 127.0.0.0/8 drop
	}
	map ports_ip {
		type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service
	}
	map ports_any {
		type inet_proto . inet_service : ipv4_addr . inet_service
	}
	chain published {
		meta l4proto { tcp, udp } dnat to ip daddr . meta l4proto . th dport map @ports_ip
		meta l4proto { tcp, udp } dnat to meta l4proto . th dport map @ports_any
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local jump published
	}
	chain output {
		type nat hook output priority -100; policy accept;
		fib daddr type local jump published
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 127.0.0.0/8 oifname "tdock0" masquerade
		ip saddr 10.89.0.0/16 ip daddr 10.89.0.0/16 ct status dnat masquerade
		ip saddr 10.89.0.0/16 oifname != "tdock0" masquerade
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		oifname "tdock0" ct state established,related accept
		oifname "tdock0" ct status dnat accept
		iifname "tdock0" accept
		oifname "tdock0" drop
	}
}
table bridge tdock {
	comment "managed by tdockd (bridge tdock0): do not edit"
	set ports {
		type ifname
	}
	set senders {
		type ifname . ether_addr . ipv4_addr
	}
	chain prerouting {
		type filter hook prerouting priority -300; policy accept;
		iifname != @ports accept
		ether type != { arp, ip } drop
		ether type arp iifname . ether saddr . arp saddr ip != @senders drop
		ether type arp iifname . arp saddr ether . arp saddr ip != @senders drop
		ether type ip iifname . ether saddr . ip saddr != @senders drop
	}
}
add element bridge tdock ports { "td0123456789" }
add element bridge tdock senders { "td0123456789" . 02:42:0a:59:00:02 . 10.89.0.2 }
add element ip tdock ports_any { tcp . 8080 : 10.89.0.2 . 80, tcp . 8443 : 10.89.0.2 . 443 }
add element ip tdock ports_ip { 127.0.0.1 . udp . 5353 : 10.89.0.2 . 53 }
add element bridge tdock ports { "tdabcdef0123" }
add element bridge tdock senders { "tdabcdef0123" . 02:42:0a:59:00:03 . 10.89.0.3 }
`);
});

test('a container\'s port filter and ports are elements: added in one transaction, removed idempotently (add, then delete)', () => {
  assert.deepEqual(portElement('10.89.0.9', web[1]!), { map: 'ports_ip', element: '127.0.0.1 . udp . 5353 : 10.89.0.9 . 53' });
  assert.equal(addContainerScript('t', { ...a, ports: web.slice(0, 1) }), [
    'add element bridge t ports { "td0123456789" }',
    'add element bridge t senders { "td0123456789" . 02:42:0a:59:00:02 . 10.89.0.2 }',
    'add element ip t ports_any { tcp . 8080 : 10.89.0.2 . 80 }',
  ].join('\n') + '\n');
  assert.equal(addContainerScript('t', b), [
    'add element bridge t ports { "tdabcdef0123" }',
    'add element bridge t senders { "tdabcdef0123" . 02:42:0a:59:00:03 . 10.89.0.3 }',
  ].join('\n') + '\n');
  assert.equal(removeContainerScript('t', { ...a, ports: web.slice(0, 2) }), [
    'add element bridge t ports { "td0123456789" }',
    'add element bridge t senders { "td0123456789" . 02:42:0a:59:00:02 . 10.89.0.2 }',
    'add element ip t ports_any { tcp . 8080 : 10.89.0.2 . 80 }',
    'add element ip t ports_ip { 127.0.0.1 . udp . 5353 : 10.89.0.2 . 53 }',
    'delete element bridge t ports { "td0123456789" }',
    'delete element bridge t senders { "td0123456789" . 02:42:0a:59:00:02 . 10.89.0.2 }',
    'delete element ip t ports_any { tcp . 8080 : 10.89.0.2 . 80 }',
    'delete element ip t ports_ip { 127.0.0.1 . udp . 5353 : 10.89.0.2 . 53 }',
  ].join('\n') + '\n');
  assert.equal(deleteTableScript('tdk_x'), 'table ip tdk_x {}\ndelete table ip tdk_x\ntable bridge tdk_x {}\ndelete table bridge tdk_x\n');
});

test('FORWARD DROP: the tagged accept rules, the policy and our rules read back from iptables -S', () => {
  assert.deepEqual(forwardRules('tdock0'), [
    ['-i', 'tdock0', '-m', 'comment', '--comment', 'tdock:tdock0', '-j', 'ACCEPT'],
    ['-o', 'tdock0', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-m', 'comment', '--comment', 'tdock:tdock0', '-j', 'ACCEPT'],
    ['-o', 'tdock0', '-m', 'conntrack', '--ctstate', 'DNAT', '-m', 'comment', '--comment', 'tdock:tdock0', '-j', 'ACCEPT'],
  ]);
  const listing = [
    '-P FORWARD DROP',
    '-A FORWARD -o tdock0 -m conntrack --ctstate DNAT -m comment --comment tdock:tdock0 -j ACCEPT',
    '-A FORWARD -i tdock0 -m comment --comment "tdock:tdock0" -j ACCEPT',
    '-A FORWARD -i tdock01 -m comment --comment tdock:tdock01 -j ACCEPT',
    '-A FORWARD -j DOCKER-USER',
    '-A FORWARD -i docker0 -m comment --comment tdock0 -j ACCEPT',
  ].join('\n');
  assert.equal(forwardPolicy(listing), 'DROP');
  assert.equal(forwardPolicy('-P FORWARD ACCEPT\n'), 'ACCEPT');
  assert.equal(forwardPolicy(''), undefined);
  assert.deepEqual(taggedRules(listing, 'tdock0'), [
    ['-o', 'tdock0', '-m', 'conntrack', '--ctstate', 'DNAT', '-m', 'comment', '--comment', 'tdock:tdock0', '-j', 'ACCEPT'],
    ['-i', 'tdock0', '-m', 'comment', '--comment', 'tdock:tdock0', '-j', 'ACCEPT'],
  ]);
});

test('wiring: one batch inside the netns creates the pair, enslaves the host end by index, addresses and routes', () => {
  assert.equal(vethName('0123456789abcdef'.repeat(4)), 'td0123456789');
  assert.ok(vethName('f'.repeat(64)).length <= 15);
  assert.ok(VETH_RE.test('td0123456789') && !VETH_RE.test('tdock0') && !VETH_RE.test('td0123456789a'));
  assert.deepEqual(nsenterIp('/run/tdock/c/0123456789ab/netns'), ['nsenter', '--net=/run/tdock/c/0123456789ab/netns', 'ip', '-batch', '-']);
  assert.equal(wireBatch({
    veth: 'td0123456789', hostPid: 7, bridgeIndex: 12, mtu: 1500, mac: '02:42:0a:59:00:02', ip: '10.89.0.2', prefix: 16, gateway: '10.89.0.1',
  }), `link add td0123456789 netns /proc/7/ns/net mtu 1500 master if12 up type veth peer name eth0 address 02:42:0a:59:00:02 mtu 1500
link set lo up
addr add 10.89.0.2/16 brd + dev eth0
link set eth0 up
route add default via 10.89.0.1 dev eth0
`);
});

test('host port collisions: same protocol and port, and the same address or 0.0.0.0 on either side', () => {
  const p = (hostIp: string, hostPort: number, protocol: 'tcp' | 'udp' = 'tcp') => ({ hostIp, hostPort, protocol });
  assert.ok(collides(p('0.0.0.0', 80), p('0.0.0.0', 80)));
  assert.ok(collides(p('0.0.0.0', 80), p('127.0.0.1', 80)));
  assert.ok(collides(p('127.0.0.1', 80), p('0.0.0.0', 80)));
  assert.ok(!collides(p('127.0.0.1', 80), p('127.0.0.2', 80)));
  assert.ok(!collides(p('0.0.0.0', 80), p('0.0.0.0', 80, 'udp')));
  assert.ok(!collides(p('0.0.0.0', 80), p('0.0.0.0', 81)));
  assert.equal(inUseMessage(p('0.0.0.0', 8080), 'by container web'),
    'port 8080/tcp on 0.0.0.0 is already in use (by container web): choose another host port');
});
