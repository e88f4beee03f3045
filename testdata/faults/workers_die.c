/*
 * Fault injection for tests: linked into a copy of a real nginx build (patchelf --add-needed), it
 * makes every worker process exit with code 2 as it starts. nginx treats code 2 as fatal and does
 * not respawn the worker, so the new master runs with no workers: the "build whose workers die"
 * that takes a site down when swapped in by a script that does not check.
 *
 * Workers started by a root master call initgroups() to drop privileges; the master and `nginx -t`
 * never do, so the master starts, the configuration test passes, and only the workers die.
 */
#include <sys/types.h>
#include <unistd.h>

int initgroups(const char *user, gid_t group)
{
	(void)user;
	(void)group;
	_exit(2);
}
