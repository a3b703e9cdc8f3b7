/* A QMP client: one connection to QEMU's JSON monitor. */
#ifndef KH_MONITOR_H
#define KH_MONITOR_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "error.h"

struct monitor;

/* Connects to the QMP socket at path, reads the greeting and sends
 * qmp_capabilities; its answer is read ahead of the first reply or event
 * waited for, and its error, if any, is that wait's. Every wait on this connection (connect, greeting, each
 * reply, each event) is bounded by timeout_ms. */
int monitor_open(struct monitor **mp, const char *path, int timeout_ms,
		 struct error *e);

/* The same on an already connected socket; takes ownership of fd. */
int monitor_attach(struct monitor **mp, int fd, int timeout_ms,
		   struct error *e);

void monitor_close(struct monitor *m);

/* The pid of the process at the other end (SO_PEERCRED: the one that
 * made the socket, QEMU), or 0 where it is not known (another pid
 * namespace's). */
pid_t monitor_peer_pid(const struct monitor *m);

/* QEMU's version from the greeting, e.g. major 7, minor 2, micro 22. */
void monitor_version(const struct monitor *m, int *major, int *minor,
		     int *micro);

/* Sends {"execute": cmd, "arguments": args, "id": N} and waits for the
 * reply with that id. args may be NULL; the reference is stolen. On
 * success *ret (if not NULL) gets the "return" value, owned by the
 * caller. If QEMU answers with an error, returns KH_EFAIL with
 * e->qmp_class set and QEMU's description in e->msg. Events that arrive
 * meanwhile are queued for monitor_wait_event. */
int monitor_execute(struct monitor *m, const char *cmd, json_t *args,
		    json_t **ret, struct error *e);

/* The same, passing fd to QEMU as SCM_RIGHTS data in the same message
 * (for getfd and add-fd). The caller keeps its own copy of fd. */
int monitor_execute_fd(struct monitor *m, const char *cmd, json_t *args,
		       int fd, json_t **ret, struct error *e);

/* monitor_execute_fd in two halves, for pipelining commands that do not
 * depend on each other: QEMU answers (non-out-of-band) commands in the
 * order it got them, so several can be sent before the first reply is
 * read. Replies must be collected in the order the commands were sent. */
int monitor_send(struct monitor *m, const char *cmd, json_t *args, int fd,
		 unsigned long *id, struct error *e);
int monitor_reply(struct monitor *m, unsigned long id, const char *cmd,
		  json_t **ret, struct error *e);

/* Decides whether an event's "data" is the one waited for. */
typedef bool (*monitor_event_match)(json_t *data, void *arg);

/* Waits up to timeout_ms for event name whose data satisfies match
 * (match may be NULL: any). Queued events are looked at first; events
 * that do not match stay queued. KH_ETIMEOUT when none came. */
int monitor_wait_event(struct monitor *m, const char *name,
		       monitor_event_match match, void *arg, int timeout_ms,
		       struct error *e);

/* A flag the caller's signal handlers (for signals) set to the signal's
 * number: once it is set, every wait on any connection gives up
 * (KH_ETIMEOUT, "interrupted by signal N"), so that the caller can leave
 * things recorded as they are. The signals are blocked from the flag's
 * check into the wait (ppoll), so that one arriving in between ends the
 * wait at once rather than at its deadline. Handlers must be installed
 * without SA_RESTART. */
void monitor_interrupt_on(volatile sig_atomic_t *flag, const sigset_t *signals);

#endif
