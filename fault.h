/* Fault points for the tests. In a build with KH_FAULT_INJECTION (the
 * one the integration tests run), KH_FAULT=NAME kills the process at the
 * point NAME, as a crash, an OOM kill or a power cut would, and
 * KH_FAULT_PAUSE=NAME stops it there (SIGSTOP) so that a test can change
 * the world before it goes on. Release builds have none. */
#ifndef KH_FAULT_H
#define KH_FAULT_H

#ifdef KH_FAULT_INJECTION
void fault_point(const char *name);
#else
#define fault_point(name) ((void)0)
#endif

#endif
