/* Errors carried from where they happen up to main(), which prints them. */
#ifndef KH_ERROR_H
#define KH_ERROR_H

/* Exit codes: a contract with callers (Ganeti hooks), see kvm-hotplug(8). */
enum kh_exit {
	KH_OK = 0,
	KH_EFAIL = 1,		/* the operation failed, nothing was changed */
	KH_EUSAGE = 2,		/* bad usage or bad input */
	KH_ENOHOTPLUG = 3,	/* not possible while the VM runs: reboot needed */
	KH_ETIMEOUT = 4,	/* timed out waiting (guest, monitor or lock) */
};

struct error {
	int code;		/* one of enum kh_exit, KH_OK when unset */
	char qmp_class[48];	/* QEMU's error class when QEMU refused */
	char msg[512];		/* one line, no "kvm-hotplug:" prefix */
};

/* Sets e (which may be NULL) and returns code, so that callers can write
 * "return error_set(e, KH_EFAIL, ...);". */
int error_set(struct error *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes e->msg with context, e.g. "disk add: ". Returns e->code. */
int error_prefix(struct error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void error_clear(struct error *e);

/* KH_EFAIL "out of memory": every allocation's failure says the same. */
int error_nomem(struct error *e);

#endif
