/*
 * The monitor's relay after `ok` (PROTOCOL.md, `monitor` steps 6-7): container
 * output to the log and to every client, client frames to the container, and
 * the exit status at the end. One state struct, four files:
 *
 *   relay.c          the event loop; the child's output and sync messages;
 *                    control frames; the exit file and the last frames
 *   relay_clients.c  connections: accept, frames in, backlog and broadcast out
 *   relay_stdin.c    the stdin queue shared by every client
 *   relay_exec.c     the EXEC broker: exec-monitors forked, their answers relayed
 *
 * (the log file itself is logwriter.c).
 *
 * Memory is bounded, not fixed: one output buffer; a stdin queue that grows
 * up to STDIN_QUEUE_MAX (4 MiB) only while the container does not read what
 * clients send; and a per-client backlog that exists only while that client
 * is slow. Output is never dropped for a slow client: while any client is
 * OUTPUT_HOLD_HIGH behind, the monitor stops reading the container's output
 * (the container blocks on a full pipe, as with a slow terminal) until every
 * client is back under OUTPUT_HOLD_LOW. CLIENT_BACKLOG_MAX (4 MiB) remains a
 * hard limit (32 x 4 MiB at worst) that only the final drain after the exit
 * could approach; a client past it is disconnected (the log file still has
 * everything).
 */
#ifndef TDOCK_RELAY_H
#define TDOCK_RELAY_H

#include "monitor.h"
#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define MAX_CLIENTS 32
#define CLIENT_BACKLOG_MAX (4u << 20)
#define OUTPUT_HOLD_HIGH (1u << 20)   /* a client this far behind holds the output */
#define OUTPUT_HOLD_LOW (256u << 10)  /* ... until every client is back under this */
#define CONTROL_MAX 64        /* payload of START/RESIZE/SIGNAL/CLOSE_STDIN */
#define EXEC_PATH_MAX 1024    /* payload of EXEC: the path of an exec config */
#define MAX_EXECS 16          /* EXECs whose exec-monitor has not answered yet */
#define FINAL_FLUSH_MS 2000   /* how long slow clients get for the last frames */
#define LINGER_MS 1000        /* ... and then to hang up after EOF, their last frames read and dropped */
#define OWED_FLUSH_MS 60000   /* ... when a client is owed output and we left the container's cgroups */
#define STDIN_QUEUE_MIN 65536
#define STDIN_QUEUE_MAX (4u << 20) /* stdin accepted but not yet read by the container */
#define ACCEPT_PAUSE_MS 1000  /* no accept() for this long after EMFILE & co. */

struct client {
	int fd;
	unsigned char hdr[5];
	size_t hdr_len;
	unsigned char type;
	uint32_t left;            /* payload bytes of the current frame still to read */
	char ctl[CONTROL_MAX + 1];
	char *exec_path;          /* instead of ctl while an EXEC's payload is read (malloc'd) */
	size_t ctl_len;
	unsigned long serial;     /* which connection holds the slot (answers to EXEC) */
	char *backlog;            /* frames not yet accepted by the socket */
	size_t backlog_len, backlog_cap;
	bool quiet;               /* sent QUIET: no STDOUT/STDERR frames (a control connection) */
};

/* An EXEC being set up: the answer goes back to the client that asked, if it is still there. */
struct exec_req {
	int fd;                   /* the exec-monitor's answer pipe; -1: free (unless queued) */
	pid_t pid;
	bool reaped;
	bool queued;              /* waits for init's root filesystem (SYNC_ROOTFS) */
	int client;
	unsigned long serial;
	char path[EXEC_PATH_MAX + 1];
	char line[sizeof g_err + 16];
	size_t len;
};

/* STDIN bytes from every client, in arrival order, until the container reads them. */
struct stdin_queue {
	char *buf;                /* len bytes at off */
	size_t off, len, cap;
	size_t limit;             /* STDIN_QUEUE_MAX; lowered to cap when realloc fails */
	bool close_pending;       /* CLOSE_STDIN came: close the pipe once the queue is empty */
};

struct relay {
	struct monitor *m;
	struct client clients[MAX_CLIENTS];
	unsigned long next_serial;
	struct exec_req *execs;   /* MAX_EXECS of them, allocated at the first EXEC */
	bool rootfs_ready;        /* init said SYNC_ROOTFS: EXECs may join its mount namespace */
	struct stdin_queue in;
	struct timespec accept_paused; /* when accept() last failed for lack of resources */
	bool accept_pause;
	bool output_held;         /* a slow client: the container's output is not read */
	/* exec-monitor before START: when we began waiting, whether a client came, whether we gave up */
	struct timespec waiting_since;
	bool had_client, abandoned;
	bool resize_pending;
	unsigned pending_rows, pending_cols;
	char io_buf[32768];
};

/* relay.c: a whole control frame from a client (START, RESIZE, SIGNAL, EXEC...). */
void relay_control(struct relay *r, struct client *c, unsigned char type, char *payload);

/* relay_clients.c */
void client_drop(struct client *c);
/* Sends what the socket takes of c's backlog; drops c on an error. */
void client_flush(struct client *c);
/* Queues one whole frame; a frame is never split between clients' views. */
void client_send(struct client *c, unsigned char type, const void *data, size_t len);
/* To every client (STDOUT/STDERR not to quiet ones). */
void broadcast(struct relay *r, unsigned char type, const void *data, size_t len);
/* Accepts every pending connection; each gets PID and FEATURES first. */
void client_accept(struct relay *r);
/* -1: accept() may go on; otherwise the ms until it may be tried again. */
int accept_pause_left(struct relay *r);
/* Reads what is ready from one client; frames may arrive in any fragments. */
void client_read(struct relay *r, struct client *c);
/* The client can't make progress while its STDIN payload has nowhere to go. */
bool client_blocked(struct relay *r, const struct client *c);
/* True while a slow client holds the container's output (hysteresis). */
bool hold_output(struct relay *r);

/* relay_stdin.c */
/* Stdin accepts bytes while someone can still read them; otherwise they are dropped. */
bool stdin_accepting(const struct relay *r);
/* Room at the end of the queue (growing it up to its limit); 0 when full. */
size_t stdin_room(struct relay *r);
bool stdin_full(const struct relay *r);
/* Closes the stdin pipe once CLOSE_STDIN came and the queue is empty. */
void stdin_maybe_close(struct relay *r);
/* Writes what the container takes of the queue. */
void stdin_write(struct relay *r);

/* relay_exec.c */
/* An EXEC frame: answered at once (refused), queued, or an exec-monitor forked. */
void exec_start(struct relay *r, struct client *c, const char *path, size_t len);
/* Init's root filesystem is complete: the EXECs that came too early go ahead. */
void exec_release(struct relay *r);
/* Init died before its root filesystem was complete: nothing to join. */
void exec_refuse_queued(struct relay *r);
/* The exec-monitor's one line (`ok PID` or `error: ...`), or EOF without one. */
void exec_answer(struct relay *r, struct exec_req *e);
/* pid, one of our children other than the watched one, was reaped. */
void exec_reaped(struct relay *r, pid_t pid);

#endif
