// Docker's default confinement, plus no_new_privs and no nested user namespaces.
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

export const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/interrupts', '/proc/kcore', '/proc/keys',
  '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug',
  '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];

export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

// Written inside the container's own user namespace before /proc/sys turns read-only.
export const DEFAULT_SYSCTL: Record<string, string> = { 'user.max_user_namespaces': '0' };

/** The highest value ping_group_range takes (the kernel's gid limit there). */
const PING_GROUP_MAX = 2147483647;

/**
 * DEFAULT_SYSCTL plus, when the container has a network namespace of its own (bridge,
 * none), Docker's two defaults for it: every group may open ICMP datagram sockets
 * (non-root ping) and every user may bind ports below 1024. Docker writes
 * `ping_group_range=0 2147483647`; the kernel reads the range in the writer's user
 * namespace (init, inside the container's) and refuses it with EINVAL unless both ends
 * are mapped there, so "every group" is the container's gid map, 0 to size-1 (CRI-O
 * and systemd-nspawn do the same). With --network host the namespace is the host's:
 * none of it is written.
 */
export function containerSysctls(network: string, gidMapSize: number): Record<string, string> {
  if (network === 'host') return { ...DEFAULT_SYSCTL };
  return {
    ...DEFAULT_SYSCTL,
    'net.ipv4.ping_group_range': `0 ${Math.min(gidMapSize - 1, PING_GROUP_MAX)}`,
    'net.ipv4.ip_unprivileged_port_start': '0',
  };
}

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
