/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_access.c
 * Goal: the segment and the control socket take the permissions the PhoenixFile names
 * (governance.segment_mode, governance.group): a process of another uid in that group may
 * attach, talk to the daemon and join (through the daemon's admission gate); one outside
 * it may do none of these.
 * Method: pflightd with segment_mode 0660 and a group; two children drop to uid 65534,
 * one with the group among its supplementary groups, one without. Needs root to change
 * uid (exit 77 otherwise).
 */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

#define WAIT_NS (30ull * 1000000000ull)
#define GROUP 48879u  /* a gid no account uses here: only our children carry it */
#define NOBODY 65534u /* the unprivileged uid the children take */

static const char *daemon_path;
static char name[64], dir[64], manifest[128], control[128], dlog[128];
static pid_t daemon_pid = -1;
static int passed;

static void cleanup(void)
{
	if (daemon_pid > 0 && kill(daemon_pid, SIGKILL) == 0)
		(void)waitpid(daemon_pid, NULL, 0);
	if (!passed)
		proc_print_file(dlog);
	(void)pf_domain_unlink(name);
	if (passed)
		proc_rm_dir(dir);
}

/* In a child: become uid NOBODY, with GROUP as a supplementary group or not; then try to
 * attach, ask the daemon's status and join. Exit 0 when each gave the expected result. */
static void child(int in_group)
{
	gid_t groups[1] = {GROUP};
	char reply[512];
	struct pf_domain *d = NULL;
	struct pf_member *m;
	int want = in_group ? 0 : -EACCES, r;

	if (setgroups(in_group ? 1 : 0, groups) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		_exit(10);
	r = pf_domain_open(name, &d);
	if (r != want) {
		fprintf(stderr, "child(%d): open %d, want %d\n", in_group, r, want);
		_exit(11);
	}
	r = pf_control_request(control, 0 /* pflightd runs as root */, "status", reply,
			       sizeof(reply), 0);
	if ((in_group && r <= 0) || (!in_group && r != -EACCES)) {
		fprintf(stderr, "child(%d): control %d\n", in_group, r);
		_exit(12);
	}
	if (!in_group)
		_exit(0);
	r = pf_member_join(d, NULL, &m);
	if (r != 0) {
		fprintf(stderr, "child(1): join %d\n", r);
		_exit(13);
	}
	r = pf_member_leave(m);
	pf_domain_close(d);
	_exit(r == 0 ? 0 : 14);
}

static void run_child(int in_group)
{
	int status = 0;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0)
		child(in_group);
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "child(%d): status 0x%x\n", in_group, status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(int argc, char **argv)
{
	char *dargv[] = {NULL, "--foreground", "--manifest", manifest, "--control", control, NULL};
	struct stat st;
	FILE *f;

	CHECK(argc == 2);
	if (geteuid() != 0) {
		printf("SKIP: changing uid needs root\n");
		return 77;
	}
	daemon_path = dargv[0] = argv[1];
	test_domain_name(name, sizeof(name), "access");
	(void)snprintf(dir, sizeof(dir), "/tmp/pft-access-XXXXXX");
	CHECK(mkdtemp(dir) != NULL && chmod(dir, 0711) == 0); /* others may reach the socket */
	(void)snprintf(manifest, sizeof(manifest), "%s/phoenixfile.yaml", dir);
	(void)snprintf(control, sizeof(control), "%s/control.sock", dir);
	(void)snprintf(dlog, sizeof(dlog), "%s/pflightd.log", dir);
	(void)pf_domain_unlink(name);
	CHECK(atexit(cleanup) == 0);
	f = fopen(manifest, "w");
	CHECK(f != NULL);
	fprintf(f,
		"apiVersion: pflight/v1\nkind: Domain\nmetadata:\n  name: %s\n"
		"governance:\n  segment_mode: \"0660\"\n  group: %u\n"
		"  audit:\n    path: %s/audit.jsonl\n",
		name, GROUP, dir);
	CHECK(fclose(f) == 0);
	daemon_pid = proc_spawn(dargv, dlog);
	CHECK(proc_wait_log(daemon_pid, dlog, " ready: ", WAIT_NS) == 0);
	CHECK(stat(control, &st) == 0 && st.st_gid == GROUP && (st.st_mode & 0777) == 0660);
	run_child(1);
	run_child(0);
	CHECK(kill(daemon_pid, SIGTERM) == 0);
	CHECK(waitpid(daemon_pid, NULL, 0) == daemon_pid);
	daemon_pid = -1;
	CHECK(proc_file_has(dlog, "admitted"));
	passed = 1;
	printf("access: group %u may attach, ask and join; others may not\n", GROUP);
	return 0;
}
