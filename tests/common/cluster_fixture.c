/* SPDX-License-Identifier: MIT */
/*
 * tests/common/cluster_fixture.c: see cluster_fixture.h.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/common/cluster_fixture.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

static struct cf *the;

static void reap(pid_t *pid, int sig)
{
	if (*pid <= 0)
		return;
	(void)kill(*pid, sig);
	(void)waitpid(*pid, NULL, 0);
	*pid = -1;
}

static void at_exit(void)
{
	struct cf *c = the;

	if (c == NULL)
		return;
	for (unsigned i = 0; i < c->o.hosts; i++) {
		reap(&c->worker[i], SIGKILL);
		reap(&c->pid[i], SIGKILL);
		if (!c->passed) {
			proc_print_file(c->dlog[i]);
			proc_print_file(c->wlog[i]);
			proc_print_file(c->audit[i]);
		}
		if (c->domain[i][0] != '\0') {
			char shm[96];

			(void)snprintf(shm, sizeof(shm), "/dev/shm/pflight-%s", c->domain[i]);
			(void)unlink(shm); /* a host killed with kill -9 leaves its domain */
		}
	}
	etcd_fixture_stop(&c->ef);
	proc_rm_dir(c->dir);
	the = NULL;
}

void cf_write_manifest(struct cf *c, int i, unsigned shards)
{
	FILE *f = fopen(c->manifest[i], "w");

	CHECK(f != NULL);
	fprintf(f,
		"apiVersion: pflight/v1\nkind: Domain\nmetadata:\n  name: %s\n"
		"membership:\n  vnodes_max: %u\n  members_max: 4\n  heartbeat_misses: 20\n"
		"governance:\n  audit:\n    path: %s\n    fsync: head\n"
		"transport:\n  name: host-%c\n  key: %s/%d.key\n  port: %u\n"
		"cluster:\n  name: %s\n  etcd_endpoints: [%s]\n  lease_ttl: %us\n  shards: %u\n"
		"api:\n  port: %u\n",
		c->domain[i], c->o.vnodes_max, c->audit[i], 'a' + i, c->dir, i,
		etcd_fixture_free_port(), c->cluster, c->ef.url[0], c->o.ttl_s, shards,
		c->api_port[i]);
	CHECK(fclose(f) == 0);
}

void cf_init(struct cf *c, const char *daemon_path, const char *worker_path,
	     const struct cf_opts *o)
{
	CHECK(the == NULL && o->hosts >= 1 && o->hosts <= CF_HOSTS_MAX);
	memset(c, 0, sizeof(*c));
	c->o = *o;
	c->daemon_path = daemon_path;
	c->worker_path = worker_path;
	(void)snprintf(c->dir, sizeof(c->dir), "/tmp/pft-cluster-XXXXXX");
	CHECK(mkdtemp(c->dir) != NULL);
	(void)snprintf(c->cluster, sizeof(c->cluster), "t%d", (int)getpid());
	for (unsigned i = 0; i < o->hosts; i++) {
		c->pid[i] = c->worker[i] = -1;
		c->api_port[i] = etcd_fixture_free_port();
		(void)snprintf(c->domain[i], sizeof(c->domain[i]), "%s-%c", c->cluster, 'a' + i);
		(void)snprintf(c->manifest[i], sizeof(c->manifest[i]), "%s/%u.yaml", c->dir, i);
		(void)snprintf(c->audit[i], sizeof(c->audit[i]), "%s/%u.audit", c->dir, i);
		(void)snprintf(c->sock[i], sizeof(c->sock[i]), "%s/%u.sock", c->dir, i);
		(void)snprintf(c->dlog[i], sizeof(c->dlog[i]), "%s/%u.log", c->dir, i);
		(void)snprintf(c->wlog[i], sizeof(c->wlog[i]), "%s/%u.worker.log", c->dir, i);
	}
	the = c;
	atexit(at_exit);
	etcd_fixture_start(&c->ef, o->etcd_members);
	for (unsigned i = 0; i < o->hosts; i++)
		cf_write_manifest(c, (int)i, o->shards);
}

void cf_start_host(struct cf *c, int i)
{
	char *argv[] = {(char *)c->daemon_path,
			"--foreground",
			"--manifest",
			c->manifest[i],
			"--control",
			c->sock[i],
			NULL};

	CHECK(proc_start(argv, c->dlog[i], " ready: ", CF_WAIT_NS, &c->pid[i]) == PROC_RUNNING);
}

void cf_kill_host(struct cf *c, int i)
{
	reap(&c->pid[i], SIGKILL);
}

void cf_stop_host(struct cf *c, int i)
{
	proc_stop(&c->pid[i]);
}

void cf_start_worker(struct cf *c, int i, unsigned define)
{
	char n[16];
	char *argv[] = {(char *)c->worker_path,
			c->domain[i],
			"64",
			"--define",
			n,
			"--control",
			c->sock[i],
			NULL};

	(void)snprintf(n, sizeof(n), "%u", define);
	c->worker[i] = proc_spawn(argv, c->wlog[i]);
}

int cf_count(struct cf *c, int i, const char *event, const char *key, const char *value)
{
	return proc_audit_count(c->audit[i], event, key, value);
}

long cf_wait(struct cf *c, int i, const char *event, const char *key, const char *value, int n,
	     uint64_t timeout_ns)
{
	uint64_t t0 = proc_now_ns();

	while (cf_count(c, i, event, key, value) < n) {
		if (proc_now_ns() - t0 > timeout_ns)
			return -1;
		proc_nap();
	}
	return (long)((proc_now_ns() - t0) / 1000000u);
}

static size_t gather(char *p, size_t size, size_t n, void *arg)
{
	FILE *f = arg;

	return fwrite(p, size, n, f);
}

json_t *cf_api_get(struct cf *c, int i, const char *path)
{
	char url[128], *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	CURL *h = curl_easy_init();
	long status = 0;
	json_t *doc;

	CHECK(f != NULL && h != NULL);
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", c->api_port[i], path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, gather);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
	CHECK(curl_easy_perform(h) == CURLE_OK);
	(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	CHECK(fclose(f) == 0);
	doc = json_loadb(text, len, 0, NULL);
	if (status != 200 || doc == NULL)
		fprintf(stderr, "GET %s: %ld %.*s\n", url, status, (int)len, text);
	free(text);
	CHECK(status == 200 && doc != NULL);
	return doc;
}

void cf_finish(struct cf *c)
{
	for (unsigned i = 0; i < c->o.hosts; i++) {
		reap(&c->worker[i], SIGKILL);
		if (c->pid[i] > 0)
			proc_stop(&c->pid[i]);
	}
	c->passed = 1;
}
