/*
 * Fault injection for tests: linked into a copy of a real nginx dynamic module (patchelf
 * --add-needed), it makes every worker process exit with code 2 as it starts: nginx treats code 2
 * as fatal and does not respawn the worker, so the master re-executed with this module runs with
 * no workers.
 *
 * The module is loaded (load_module) while the master reads its configuration; nginx forks its
 * workers afterwards, and `nginx -t` forks nothing: the handler below runs in the workers alone.
 * A re-executed master inherits its listening sockets and does not fork to daemonize.
 */
#include <pthread.h>
#include <unistd.h>

static void die_in_child(void)
{
	_exit(2);
}

__attribute__((constructor)) static void arm(void)
{
	pthread_atfork(NULL, NULL, die_in_child);
}
