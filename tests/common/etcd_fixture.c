/* SPDX-License-Identifier: MIT */
/*
 * tests/common/etcd_fixture.c: see etcd_fixture.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/common/etcd_fixture.h"
#include "tests/common/proc_util.h"

#define READY_NS (30ull * 1000000000ull)

static struct etcd_fixture *the;

const char *etcd_fixture_binary(void)
{
	static const char *const paths[] = {"/usr/bin/etcd", "/usr/local/bin/etcd"};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

unsigned etcd_fixture_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		perror("etcd fixture: a free port");
		exit(1);
	}
	close(fd);
	return ntohs(a.sin_port);
}

static void at_exit(void)
{
	if (the != NULL)
		etcd_fixture_stop(the);
}

static void spawn(struct etcd_fixture *f, unsigned i, const char *cluster)
{
	char name[16], data[128], peer[64], listen_client[64];
	char *argv[] = {(char *)etcd_fixture_binary(),
			"--name",
			name,
			"--data-dir",
			data,
			"--listen-client-urls",
			listen_client,
			"--advertise-client-urls",
			f->url[i],
			"--listen-peer-urls",
			peer,
			"--initial-advertise-peer-urls",
			peer,
			"--initial-cluster",
			(char *)cluster,
			"--initial-cluster-state",
			"new",
			"--initial-cluster-token",
			f->dir + 5,
			NULL};

	(void)snprintf(name, sizeof(name), "m%u", i);
	(void)snprintf(data, sizeof(data), "%s/m%u", f->dir, i);
	(void)snprintf(peer, sizeof(peer), "http://127.0.0.1:%u", f->peer_port[i]);
	(void)snprintf(listen_client, sizeof(listen_client), "%s", f->url[i]);
	f->pid[i] = proc_spawn(argv, f->log[i]);
}

static void wait_ready(struct etcd_fixture *f, unsigned i, long at)
{
	uint64_t deadline = proc_now_ns() + READY_NS;
	char buf[8192];

	for (;;) {
		FILE *lf = fopen(f->log[i], "r");
		size_t n = 0;

		if (lf != NULL && fseek(lf, at, SEEK_SET) == 0)
			n = fread(buf, 1, sizeof(buf) - 1, lf);
		if (lf != NULL)
			(void)fclose(lf);
		buf[n] = '\0';
		if (strstr(buf, "ready to serve client requests") != NULL)
			return;
		if (waitpid(f->pid[i], NULL, WNOHANG) != 0 || proc_now_ns() > deadline) {
			proc_print_file(f->log[i]);
			fprintf(stderr, "etcd fixture: member %u did not start\n", i);
			exit(1);
		}
		proc_nap();
	}
}

void etcd_fixture_restart(struct etcd_fixture *f, unsigned i)
{
	FILE *lf = fopen(f->log[i], "a");
	long at = 0;

	if (lf != NULL) {
		at = ftell(lf);
		(void)fclose(lf);
	}
	spawn(f, i, f->cluster);
	wait_ready(f, i, at);
}

void etcd_fixture_start(struct etcd_fixture *f, unsigned n)
{
	char *cluster = f->cluster;

	memset(f, 0, sizeof(*f));
	if (n == 0 || n > ETCD_MEMBERS_MAX || the != NULL || etcd_fixture_binary() == NULL) {
		fprintf(stderr, "etcd fixture: %u members, or no etcd\n", n);
		exit(1);
	}
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/pft-etcd-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		perror("etcd fixture: mkdtemp");
		exit(1);
	}
	the = f;
	atexit(at_exit);
	f->n = n;
	for (unsigned i = 0; i < n; i++) {
		size_t at = strlen(cluster);

		f->client_port[i] = etcd_fixture_free_port();
		f->peer_port[i] = etcd_fixture_free_port();
		(void)snprintf(f->url[i], sizeof(f->url[i]), "http://127.0.0.1:%u",
			       f->client_port[i]);
		f->endpoints[i] = f->url[i];
		(void)snprintf(f->log[i], sizeof(f->log[i]), "%s/m%u.log", f->dir, i);
		(void)snprintf(cluster + at, sizeof(f->cluster) - at, "%sm%u=http://127.0.0.1:%u",
			       i > 0 ? "," : "", i, f->peer_port[i]);
	}
	for (unsigned i = 0; i < n; i++)
		spawn(f, i, cluster);
	for (unsigned i = 0; i < n; i++)
		if (proc_wait_log(f->pid[i], f->log[i], "ready to serve client requests",
				  READY_NS) != 0) {
			proc_print_file(f->log[i]);
			fprintf(stderr, "etcd fixture: member %u did not start\n", i);
			exit(1);
		}
}

void etcd_fixture_kill(struct etcd_fixture *f, unsigned i)
{
	if (i >= f->n || f->pid[i] <= 0)
		return;
	(void)kill(f->pid[i], SIGKILL);
	(void)waitpid(f->pid[i], NULL, 0);
	f->pid[i] = -1;
}

void etcd_fixture_stop(struct etcd_fixture *f)
{
	for (unsigned i = 0; i < f->n; i++) {
		if (f->pid[i] <= 0)
			continue;
		pid_t done = 0;

		(void)kill(f->pid[i], SIGTERM);
		for (int k = 0; k < 2500 && (done = waitpid(f->pid[i], NULL, WNOHANG)) == 0; k++)
			proc_nap(); /* up to 5 s */
		if (done == 0) {
			(void)kill(f->pid[i], SIGKILL);
			(void)waitpid(f->pid[i], NULL, 0);
		}
		f->pid[i] = -1;
	}
	if (getenv("ETCD_FIXTURE_SHOW_LOGS") != NULL)
		for (unsigned i = 0; i < f->n; i++)
			proc_print_file(f->log[i]);
	proc_rm_dir(f->dir);
	f->dir[0] = '\0';
	if (the == f)
		the = NULL;
}

static struct etcd_fixture *group;

static int group_setup(void **state)
{
	(void)state;
	etcd_fixture_start(group, 1);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	etcd_fixture_stop(group);
	return 0;
}

int etcd_fixture_run(struct etcd_fixture *f, const char *name, const struct CMUnitTest *tests,
		     size_t count)
{
	if (etcd_fixture_binary() == NULL) {
		printf("1..0 # SKIP etcd is not installed (Debian's etcd-server)\n");
		return 0;
	}
	group = f;
	return _cmocka_run_group_tests(name, tests, count, group_setup, group_teardown);
}
