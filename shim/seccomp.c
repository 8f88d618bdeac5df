/*
 * The default seccomp profile, modelled on Docker's: everything is allowed except
 * a short list of system calls that widen the kernel's attack surface or reach
 * beyond the container, and that no ordinary workload needs. A blocked call fails
 * with EPERM (as Docker's do), except clone3, which fails with ENOSYS so that
 * glibc falls back to clone, whose flags a filter can see.
 *
 * The filter is classic BPF, written by hand (no libseccomp: the shim has no
 * dependencies). It is installed as the last step before the container's command
 * (or an exec'd process) execs; init never has it. See PROTOCOL.md.
 */
#include "seccomp.h"
#include "util.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "the seccomp filter knows x86_64 and aarch64 only"
#endif

/* System calls numbered 424 and up have the same number on every architecture: old headers may lack them. */
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#define __NR_io_uring_enter 426
#define __NR_io_uring_register 427
#endif
#ifndef __NR_open_tree
#define __NR_open_tree 428
#define __NR_move_mount 429
#define __NR_fsopen 430
#define __NR_fsconfig 431
#define __NR_fsmount 432
#define __NR_fspick 433
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442
#endif
#ifndef __NR_quotactl_fd
#define __NR_quotactl_fd 443
#endif
#ifndef __NR_open_tree_attr
#define __NR_open_tree_attr 467
#endif

/* Fail with EPERM, whatever the arguments. */
static const int blocked[] = {
	/* Large, often-exploited kernel interfaces that containers do not need. */
	__NR_io_uring_setup, __NR_io_uring_enter, __NR_io_uring_register,
	__NR_userfaultfd,       /* stalls kernel page faults at will: a race-exploit tool */
	__NR_perf_event_open,   /* kernel profiling, side channels */
	__NR_bpf,               /* eBPF programs in the kernel */
	/* The kernel keyring is not namespaced: keys would be shared with the host. */
	__NR_add_key, __NR_request_key, __NR_keyctl,
	/* The host's kernel itself: other kernels, modules, reboot, swap, accounting. */
	__NR_kexec_load, __NR_kexec_file_load,
	__NR_init_module, __NR_finit_module, __NR_delete_module,
	__NR_reboot, __NR_swapon, __NR_swapoff, __NR_acct,
	__NR_syslog,            /* the host's kernel log */
	__NR_quotactl, __NR_quotactl_fd,
	/* File handles open any file of a mounted filesystem, past the container's root ("shocker"). */
	__NR_open_by_handle_at, __NR_name_to_handle_at,
	/* The clocks are not namespaced (only CLOCK_MONOTONIC/BOOTTIME offsets are).
	 * adjtimex and clock_adjtime stay allowed: with mode 0 they only read the clock's
	 * state (ntp_gettime, `adjtimex -p`), and changing it needs CAP_SYS_TIME, which
	 * containers do not have. */
	__NR_settimeofday, __NR_clock_settime,
	/* No new namespaces, no joining others (clone and clone3: below). */
	__NR_unshare, __NR_setns,
	/* The mount table: old and new mount API. */
	__NR_mount, __NR_umount2, __NR_pivot_root,
	__NR_fsopen, __NR_fsconfig, __NR_fsmount, __NR_fspick,
	__NR_move_mount, __NR_open_tree, __NR_open_tree_attr, __NR_mount_setattr,
	/* Gone from current kernels, or obsolete; Docker blocks them too. */
#ifdef __NR_lookup_dcookie
	__NR_lookup_dcookie,
#endif
#ifdef __NR_nfsservctl
	__NR_nfsservctl,
#endif
#ifdef __NR_uselib
	__NR_uselib,
#endif
#ifdef __NR_ustat
	__NR_ustat,
#endif
#ifdef __NR_sysfs
	__NR_sysfs,
#endif
#ifdef __NR__sysctl
	__NR__sysctl,
#endif
	/* x86 I/O port access. */
#ifdef __NR_iopl
	__NR_iopl,
#endif
#ifdef __NR_ioperm
	__NR_ioperm,
#endif
};

/* clone() flags that create namespaces (CLONE_NEWTIME cannot be passed to clone). */
#define CLONE_NEW_ANY (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
		       CLONE_NEWPID | CLONE_NEWNET)

/*
 * personality(): Docker's values. PER_LINUX, PER_LINUX32, UNAME26, both, and
 * 0xffffffff (query). Others (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC...) weaken
 * the process's own hardening.
 */
static const unsigned int personalities[] = { 0x0, 0x8, 0x20000, 0x20008, 0xffffffff };

/* seccomp_data.args[] are 64 bits; classic BPF loads 32. Every argument checked here is an int. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG_LOW(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#else
#define ARG_LOW(i) (offsetof(struct seccomp_data, args) + 8 * (i) + 4)
#endif

#define LOAD(offset) (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (offset))
#define RET(action) (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (action))
/* Jumps are relative: jt/jf instructions are skipped when the test is true/false. */
#define JEQ(k, jt, jf) (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (jt), (jf))
#define JGE(k, jt, jf) (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (k), (jt), (jf))
#define JSET(k, jt, jf) (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, (k), (jt), (jf))

#define ALLOW SECCOMP_RET_ALLOW
#define FAIL(err) (SECCOMP_RET_ERRNO | ((err) & SECCOMP_RET_DATA))
/*
 * The table holds native numbers only: a call through another ABI (i386's
 * int 0x80, x32) would pass it. Failing every such call would leave a program
 * unable even to exit, so the process is killed (SIGSYS) instead.
 */
#define KILL SECCOMP_RET_KILL_PROCESS

/* Room for the whole program (about 130 instructions here; the kernel takes up to 4096). */
#define MAX_INSNS 256

struct program {
	struct sock_filter insn[MAX_INSNS];
	unsigned short len;
	bool overflow;
};

static void emit(struct program *p, struct sock_filter f)
{
	if (p->len < MAX_INSNS)
		p->insn[p->len++] = f;
	else
		p->overflow = true;
}

/*
 * The accumulator holds the syscall number between the blocks: each block tests
 * it, and either skips itself whole or ends in a RET (after loading an argument).
 */
static void build(struct program *p)
{
	emit(p, LOAD(offsetof(struct seccomp_data, arch)));
	emit(p, JEQ(NATIVE_ARCH, 1, 0));
	emit(p, RET(KILL));
	emit(p, LOAD(offsetof(struct seccomp_data, nr)));
#ifdef __x86_64__
	/* x32 calls are native-arch numbers with bit 30 set (__X32_SYSCALL_BIT). */
	emit(p, JGE(0x40000000, 0, 1));
	emit(p, RET(KILL));
#endif

	for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++) {
		emit(p, JEQ((unsigned)blocked[i], 0, 1));
		emit(p, RET(FAIL(EPERM)));
	}

	/* clone3's flags sit in a struct in memory, out of a filter's sight: ENOSYS makes glibc use clone. */
	emit(p, JEQ(__NR_clone3, 0, 1));
	emit(p, RET(FAIL(ENOSYS)));

	/* clone(flags, ...): flags are the first argument on x86_64 and aarch64 alike; the kernel uses the low 32 bits. */
	emit(p, JEQ(__NR_clone, 0, 4));
	emit(p, LOAD(ARG_LOW(0)));
	emit(p, JSET(CLONE_NEW_ANY, 0, 1));
	emit(p, RET(FAIL(EPERM)));
	emit(p, RET(ALLOW));

	/* socket(AF_VSOCK, ...): a channel to the hypervisor and other VMs, outside the network namespace. */
	emit(p, JEQ(__NR_socket, 0, 4));
	emit(p, LOAD(ARG_LOW(0)));
	emit(p, JEQ(AF_VSOCK, 0, 1));
	emit(p, RET(FAIL(EPERM)));
	emit(p, RET(ALLOW));

	/* personality(persona): the kernel takes an unsigned int. */
	const unsigned n = sizeof personalities / sizeof personalities[0];
	emit(p, JEQ(__NR_personality, 0, (unsigned char)(n + 3)));
	emit(p, LOAD(ARG_LOW(0)));
	for (unsigned i = 0; i < n; i++)
		emit(p, JEQ(personalities[i], (unsigned char)(n - i), 0));
	emit(p, RET(FAIL(EPERM)));
	emit(p, RET(ALLOW));

	emit(p, RET(ALLOW));
}

int seccomp_install_default(void)
{
	static struct program p;
	if (p.len == 0)
		build(&p);
	if (p.overflow)
		return seterr("seccomp: the filter does not fit in %d instructions", MAX_INSNS);
	struct sock_fprog prog = { .len = p.len, .filter = p.insn };
	/* No flags: the shim is single-threaded (no TSYNC needed). */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return syserr("install the seccomp filter");
	return 0;
}
