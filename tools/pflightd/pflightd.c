/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/pflightd.c: pflightd, the host daemon (first cut).
 *
 *   pflightd [--manifest FILE] [--domain NAME] [--audit PATH] [--control PATH]
 *            [--foreground] [--log-level error|warn|info|debug]
 *            [--log-target auto|stderr|journal] [--mode shared|dedicated|invoker]
 *            [--idle SPINS,YIELDS,PARK_US] [--on-stop keep|drain] [--destroy-on-exit]
 *            [--api-port PORT]
 *   pflightd --version
 *
 * The log goes to stderr (log.c): with a time and a level, or, when stderr is systemd's
 * journal stream (auto, the default) or with --log-target journal, as "<priority>text"
 * lines that journald stamps itself. The full reference is docs/pflightd.8.
 *
 * Start-up: load the PhoenixFile (or the defaults), then create the domain, or adopt it
 * when it exists: the domain lives in /dev/shm, so a restarted daemon finds its workers
 * still running and loses nothing; the simulations' domains a killed daemon left there
 * (http_sim.c names them) are removed. Open the audit log (creating its signing key when
 * absent), then run three agents (daemon.h) under the runner (agent.h).
 *
 * Audit log location: --audit, else governance.audit.path, else <state>/<domain>.audit.jsonl
 * where <state> is $STATE_DIRECTORY (systemd's StateDirectory=, /var/lib/pflight in the unit
 * file; the first when it lists several), else /var/lib/pflight as root, else
 * $XDG_STATE_HOME/pflight, else $HOME/.local/state/pflight; a default directory that is
 * missing is created with mode 0700. Never the current directory: a log, its key and its
 * token belong in a directory nobody else may write to (the rule of pflight/audit.h, which
 * opening them applies to any directory). Signing key:
 * governance.credentials.signing_key_path, else <audit path>.key; when the file is absent a
 * key pair is generated, the secret key written with mode 0600 and the public key next to
 * it as <key>.pub (what `pf_audit_verify` needs).
 *
 * The main thread also serves the control socket (control.h; its path from --control,
 * else pf_control_path()): status, join tokens, migrate requests. The daemon does not start
 * without it, and never removes what is at its path unless it is a socket of its own uid
 * that nobody listens on: a path someone else bound first is theirs, and a worker would
 * hand them its token. While the daemon runs it holds the domain's admission gate (the
 * conductor decides every join: admission.c).
 *
 * The REST API (http.c, the manifest's api section; --api-port overrides its port, 0 picks
 * a free one and the log says which) runs as a fourth agent on a thread of its own.
 *
 * Signals are taken synchronously from a signalfd by the main thread (blocked in every
 * thread), so no handler shares state with anyone: SIGTERM and SIGINT stop cleanly
 * (agents stopped, daemon_stop recorded, the log closed with a signed head, the domain
 * closed, not destroyed, so the workers keep running); SIGHUP reloads the manifest. With
 * membership.on_stop: drain (or --on-stop drain), a stop first cordons every member and
 * waits until no drain is left or drain_timeout (plus a second) has passed; a second
 * SIGTERM or SIGINT stops at once.
 *
 * Under systemd (notify.c): READY=1 once everything above serves, WATCHDOG=1 from the main
 * loop every half WatchdogSec as long as every agent thread (the API's included) makes
 * passes, STOPPING=1 when the stop begins: for a drain, with EXTEND_TIMEOUT_USEC covering
 * drain_timeout, its grace and the close (the unit's TimeoutStopSec is shorter than a long
 * drain), and again as the daemon shuts down.
 *
 * Exit status: 0 after a clean stop, 1 on a runtime error, 2 on a usage or manifest error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/common/build_info.h"
#include "tools/common/decimal.h"
#include "tools/pflightd/agent.h"
#include "tools/pflightd/control.h"
#include "tools/pflightd/daemon.h"
#include "tools/pflightd/directory.h"
#include "tools/pflightd/http.h"
#include "tools/pflightd/http_api.h"
#include "tools/pflightd/log.h"
#include "tools/pflightd/notify.h"

#define EXIT_USAGE 2
#define MAIN_POLL_MS 200 /* threaded modes: how often the main thread checks the agents */
#define OPEN_RETRIES 50  /* -EAGAIN from pf_domain_open: its creator is still publishing */
/* on_stop: drain waits drain_timeout, then this long for the releases to be recorded. */
#define STOP_GRACE_NS 1000000000u
/* and then this long to stop the agents, record the stop and sign and close the log: what
 * the unit's TimeoutStopSec gives a stop that does not drain */
#define STOP_CLOSE_NS (30ull * 1000000000u)
#define STATE_DIR_ROOT "/var/lib/pflight" /* root's default state directory */

struct options {
	const char *manifest_path;
	const char *domain;
	const char *audit_path;
	const char *control_path;
	int on_stop;  /* -1: the manifest's membership.on_stop */
	int api_port; /* -1: the manifest's api.port */
	int foreground;
	int destroy_on_exit;
	enum log_level level;
	enum log_target log_target;
	enum runner_mode mode;
	struct idle_strategy idle;
};

struct daemon {
	struct options opt;
	struct pf_manifest *manifest;
	char name[PF_DOMAIN_NAME_MAX + 1];
	char audit_path[PF_AUDIT_PATH_MAX];
	char key_path[PF_AUDIT_PATH_MAX];
	struct pf_domain *domain;
	int adopted;
	struct pf_audit *log;
	struct cmdq *to_scheduler;
	struct cmdq *to_auditor;
	struct cmdq *to_conductor;
	struct cmdq *to_http;
	struct conductor conductor;
	struct scheduler scheduler;
	struct auditor auditor;
	struct runner *runner;
	struct http *http;           /* the REST API, NULL when not served */
	struct runner *http_runner;  /* its own thread (http.c says why) */
	struct hosts *hosts;         /* moves between hosts (hosts.h), NULL: no peers */
	struct runner *hosts_runner; /* its own thread: it blocks in the transport's wait */
	struct directory *dir;       /* this host in the cluster (directory.h), NULL: none */
	struct runner *dir_runner;   /* its own thread: it waits on etcd */
	struct cmdq *to_hosts;
	int wake_fd; /* eventfd: the conductor wakes the API on membership moves */
	uint64_t start_ns;
	struct control control;
	int sigfd;
	int ready_fd; /* background start-up: tell the parent we are up, then close */
	/* systemd: READY=1, STOPPING=1, the watchdog */
	struct notify notify;
};

static void usage(FILE *out)
{
	fputs("usage: pflightd [--manifest FILE] [--domain NAME] [--audit PATH] [--control PATH]\n"
	      "                [--foreground] [--log-level error|warn|info|debug]\n"
	      "                [--log-target auto|stderr|journal]\n"
	      "                [--mode shared|dedicated|invoker] [--idle SPINS,YIELDS,PARK_US]\n"
	      "                [--on-stop keep|drain] [--destroy-on-exit] [--api-port PORT]\n"
	      "       pflightd --version\n",
	      out);
}

/* SPINS,YIELDS,PARK_US: three decimal numbers, each up to UINT32_MAX. */
static int parse_idle(const char *text, struct idle_strategy *idle)
{
	uint64_t v[3];
	const char *p = text;

	for (int i = 0; i < 3; i++) {
		size_t len = i < 2 ? strcspn(p, ",") : strlen(p);

		if ((i < 2 && p[len] != ',') || decimal_parse(p, len, UINT32_MAX, &v[i]) < 0)
			return -EINVAL;
		if (i < 2)
			p += len + 1;
	}
	idle->spins = (uint32_t)v[0];
	idle->yields = (uint32_t)v[1];
	idle->park_ns = (uint64_t)v[2] * 1000u;
	return idle->park_ns > 0 ? 0 : -EINVAL;
}

static int parse_on_stop(const char *text, int *ret)
{
	*ret = strcmp(text, "keep") == 0    ? PF_MANIFEST_ON_STOP_KEEP
	       : strcmp(text, "drain") == 0 ? PF_MANIFEST_ON_STOP_DRAIN
					    : -1;
	return *ret < 0 ? -EINVAL : 0;
}

static int parse_port(const char *text, int *ret)
{
	uint64_t v;

	if (decimal_parse(text, strlen(text), 65535, &v) < 0) {
		fprintf(stderr, "pflightd: --api-port %s: use 0..65535 (0: any free port)\n", text);
		return -EINVAL;
	}
	*ret = (int)v;
	return 0;
}

static int parse_log_target(const char *text, enum log_target *ret)
{
	int r = log_target_parse(text, ret);

	if (r < 0)
		fprintf(stderr, "pflightd: --log-target %s: use auto, stderr or journal\n", text);
	return r;
}

/* The options that take a value parsed from their argument. 0 or -EINVAL. */
static int parse_value(int c, const char *arg, struct options *o)
{
	switch (c) {
	case 'o':
		return parse_on_stop(arg, &o->on_stop);
	case 'l':
		return log_level_parse(arg, &o->level);
	case 'L':
		return parse_log_target(arg, &o->log_target);
	case 'M':
		return runner_mode_parse(arg, &o->mode);
	case 'i':
		return parse_idle(arg, &o->idle);
	case 'P':
		return parse_port(arg, &o->api_port);
	default:
		return -EINVAL;
	}
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {{"manifest", required_argument, NULL, 'm'},
						 {"domain", required_argument, NULL, 'd'},
						 {"audit", required_argument, NULL, 'a'},
						 {"control", required_argument, NULL, 'c'},
						 {"on-stop", required_argument, NULL, 'o'},
						 {"foreground", no_argument, NULL, 'f'},
						 {"log-level", required_argument, NULL, 'l'},
						 {"log-target", required_argument, NULL, 'L'},
						 {"mode", required_argument, NULL, 'M'},
						 {"idle", required_argument, NULL, 'i'},
						 {"destroy-on-exit", no_argument, NULL, 'D'},
						 {"api-port", required_argument, NULL, 'P'},
						 {"help", no_argument, NULL, 'h'},
						 {"version", no_argument, NULL, 'V'},
						 {NULL, 0, NULL, 0}};
	int c, r = 0;

	memset(o, 0, sizeof(*o));
	o->level = LOG_INFO;
	o->on_stop = -1;
	o->api_port = -1;
	o->mode = RUNNER_SHARED;
	idle_strategy_default(&o->idle);
	while (r == 0 && (c = getopt_long(argc, argv, "m:d:a:fh", longopts, NULL)) != -1) {
		if (c == 'm')
			o->manifest_path = optarg;
		else if (c == 'd')
			o->domain = optarg;
		else if (c == 'a')
			o->audit_path = optarg;
		else if (c == 'c')
			o->control_path = optarg;
		else if (c == 'f')
			o->foreground = 1;
		else if (c == 'D')
			o->destroy_on_exit = 1;
		else if (c == 'h') {
			usage(stdout);
			exit(0);
		} else if (c == 'V') {
			build_print_version(stdout, "pflightd");
			exit(0);
		} else
			r = parse_value(c, optarg, o);
	}
	if (r == 0 && optind != argc)
		r = -EINVAL;
	return r;
}

/* Load the manifest (or the defaults). 0, or -EINVAL after logging file:line: reason. */
static int load_manifest(const char *path, struct pf_manifest *m)
{
	struct pf_manifest_error err;
	int r;

	if (path == NULL) {
		pf_manifest_defaults(m);
		return 0;
	}
	memset(&err, 0, sizeof(err));
	r = pf_manifest_load(path, m, &err);
	if (r < 0) {
		log_msg(LOG_ERROR, "%s:%d:%d: %s", err.file[0] != '\0' ? err.file : path, err.line,
			err.column, err.reason[0] != '\0' ? err.reason : strerror(-r));
		return -EINVAL;
	}
	return 0;
}

/* A segment that exists is adopted only if this daemon's uid (or root) made it and others
 * may not write it: its creator, or any writer, could otherwise have written anything into
 * the domain this daemon is to supervise (with root's power to kill). Owner and mode are
 * those of the segment mapped, from its own descriptor. 0, or -EPERM said in the log. */
static int adoptable(struct daemon *dm)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	uint32_t self = (uint32_t)geteuid();
	int r = pf_domain_info(dm->domain, &di);

	if (r < 0) {
		log_msg(LOG_ERROR, "domain %s: %s; not adopted", dm->name, strerror(-r));
		return r;
	}
	if (di.segment_uid == UINT32_MAX) { /* pf_domain_info() could not fstat it */
		log_msg(LOG_ERROR, "domain %s: its owner cannot be read; not adopted", dm->name);
		return -EIO;
	}
	if (di.segment_uid != self && di.segment_uid != 0) {
		log_msg(LOG_ERROR,
			"domain %s exists, owned by uid %u, not by this daemon's uid %u (nor "
			"root): "
			"not adopted; remove /dev/shm/pflight-%s or start pflightd as its owner",
			dm->name, di.segment_uid, self, dm->name);
		return -EPERM;
	}
	if ((di.segment_mode & 0002u) != 0) {
		log_msg(LOG_ERROR,
			"domain %s exists with mode %04o: others may write it; not adopted",
			dm->name, di.segment_mode);
		return -EPERM;
	}
	return 0;
}

/* Create the domain from the manifest, or adopt the one that exists. */
static int open_domain(struct daemon *dm)
{
	struct pf_domain_opts o;
	int r = pf_manifest_domain_opts(dm->manifest, &o);

	if (r < 0)
		return r;
	r = pf_domain_create(dm->name, &o, &dm->domain);
	if (r == 0) {
		log_msg(LOG_INFO, "domain %s created (%u members, %u VNodes)", dm->name,
			o.members_max, o.vnodes_max);
		return 0;
	}
	if (r != -EEXIST) {
		log_msg(LOG_ERROR, "domain %s: create: %s", dm->name, strerror(-r));
		return r;
	}
	for (int i = 0; i < OPEN_RETRIES; i++) {
		r = pf_domain_open(dm->name, &dm->domain);
		if (r != -EAGAIN)
			break;
		(void)usleep(20000);
	}
	if (r < 0) {
		log_msg(LOG_ERROR, "domain %s exists but cannot be adopted: %s", dm->name,
			strerror(-r));
		return r;
	}
	r = adoptable(dm);
	if (r < 0) {
		pf_domain_close(dm->domain);
		dm->domain = NULL;
		return r;
	}
	dm->adopted = 1;
	log_msg(LOG_INFO, "domain %s exists: adopted (its limits stay as created)", dm->name);
	return 0;
}

static int path_join(char *buf, size_t cap, const char *a, const char *b, const char *c)
{
	int n = snprintf(buf, cap, "%s%s%s", a, b, c);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Create the directory dir and those above it that are missing, each 0700 (one that
 * exists is left as it is: opening the log judges it). 0, or mkdir(2)'s errno. */
static int make_dirs(const char *dir)
{
	char buf[PF_AUDIT_PATH_MAX];
	int n = snprintf(buf, sizeof(buf), "%s", dir), r;

	if (n < 0 || (size_t)n >= sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		r = mkdir(buf, 0700) < 0 && errno != EEXIST ? -errno : 0;
		*p = '/';
		if (r < 0)
			return r;
	}
	return mkdir(buf, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

/* The default state directory (see the top of this file) into buf: 0, -ENAMETOOLONG, or
 * -ENOENT when there is none (not root, no $XDG_STATE_HOME, no $HOME). Created when
 * missing, but for $STATE_DIRECTORY, which systemd creates. */
static int state_dir(char *buf, size_t cap)
{
	const char *state = getenv("STATE_DIRECTORY"), *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	int n;

	if (state != NULL && state[0] == '/') /* several directories: the first */
		return snprintf(buf, cap, "%.*s", (int)strcspn(state, ":"), state) < (int)cap
			       ? 0
			       : -ENAMETOOLONG;
	if (geteuid() == 0)
		n = snprintf(buf, cap, "%s", STATE_DIR_ROOT);
	else if (xdg != NULL && xdg[0] == '/')
		n = snprintf(buf, cap, "%s/pflight", xdg);
	else if (home != NULL && home[0] == '/')
		n = snprintf(buf, cap, "%s/.local/state/pflight", home);
	else
		return -ENOENT;
	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	return make_dirs(buf);
}

/* Where the log and its key go (see the top of this file). */
static int audit_paths(struct daemon *dm)
{
	const struct pf_manifest_governance *g = &dm->manifest->governance;
	char *p = dm->audit_path, dir[PF_AUDIT_PATH_MAX];
	size_t cap = sizeof(dm->audit_path);
	int r;

	if (dm->opt.audit_path != NULL)
		r = path_join(p, cap, dm->opt.audit_path, "", "");
	else if (g->audit_path[0] != '\0')
		r = path_join(p, cap, g->audit_path, "", "");
	else if ((r = state_dir(dir, sizeof(dir))) < 0) {
		log_msg(LOG_ERROR,
			"audit: no state directory (%s): name the log with --audit or "
			"governance.audit.path, or set $STATE_DIRECTORY or $XDG_STATE_HOME",
			r == -ENOENT ? "not root, and neither $XDG_STATE_HOME nor $HOME is set"
				     : strerror(-r));
		return r; /* said, whatever it was (a mkdir refused is not a long path) */
	} else {
		char base[PF_DOMAIN_NAME_MAX + sizeof(".audit.jsonl")];

		r = path_join(base, sizeof(base), dm->name, ".audit.jsonl", "");
		if (r == 0)
			r = path_join(p, cap, dir, "/", base);
	}
	if (r == 0 && g->signing_key_path[0] != '\0')
		r = path_join(dm->key_path, sizeof(dm->key_path), g->signing_key_path, "", "");
	else if (r == 0)
		r = path_join(dm->key_path, sizeof(dm->key_path), p, ".key", "");
	if (r == -ENAMETOOLONG)
		log_msg(LOG_ERROR, "audit: path too long");
	return r;
}

/* Load the signing key, or create it (0600, public half in <key>.pub) when absent. */
static int signing_key(struct daemon *dm, unsigned char sk[PF_AUDIT_SECRET_KEY_BYTES])
{
	unsigned char *pk = dm->control.pk; /* kept: the control socket checks join tokens */
	struct pf_audit_refusal why = {.size = sizeof(why)};
	char pub[PF_AUDIT_PATH_MAX];
	int r = pf_audit_key_load(dm->key_path, pk, sk, &why);

	if (r != -ENOENT) {
		if (r < 0)
			log_refused("audit key", dm->key_path, why.path, why.reason, "");
		return r;
	}
	r = path_join(pub, sizeof(pub), dm->key_path, ".pub", "");
	if (r == 0)
		r = pf_audit_keygen(pk, sk);
	if (r == 0)
		r = pf_audit_key_save(dm->key_path, pub, pk, sk, &why);
	if (r < 0) {
		log_refused("new audit key", dm->key_path, why.path,
			    why.reason[0] != '\0' ? why.reason : strerror(-r), "");
		return r;
	}
	log_msg(LOG_INFO, "audit: new signing key %s (public key %s)", dm->key_path, pub);
	return 0;
}

/* <domain><suffix> in the audit log's directory: a file of this daemon's own. */
static int beside_audit(const struct daemon *dm, const char *suffix, char *path, size_t cap)
{
	const char *slash = strrchr(dm->audit_path, '/');

	if (snprintf(path, cap, "%.*s/%s%s", slash != NULL ? (int)(slash - dm->audit_path) : 1,
		     slash != NULL ? dm->audit_path : ".", dm->name, suffix) >= (int)cap)
		return -ENAMETOOLONG;
	return 0;
}

/* This host's key (transport.key, else <domain>.host.key beside the audit log): loaded, or
 * created (0600, public half in <key>.pub) when absent. It signs the Flight Packets this
 * host sends and proves it to its peers. */
static int host_key(struct daemon *dm, unsigned char sk[PF_AUDIT_SECRET_KEY_BYTES])
{
	const char *set = dm->manifest->transport.key_path;
	struct pf_audit_refusal why = {.size = sizeof(why)};
	unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES];
	char path[PF_AUDIT_PATH_MAX], pub[PF_AUDIT_PATH_MAX];
	int r;

	if (set[0] != '\0')
		r = path_join(path, sizeof(path), set, "", "");
	else
		r = beside_audit(dm, ".host.key", path, sizeof(path));
	if (r == 0)
		r = pf_audit_key_load(path, pk, sk, &why);
	if (r != -ENOENT) {
		if (r < 0)
			log_refused("host key", path, why.path, why.reason, "");
		return r;
	}
	r = path_join(pub, sizeof(pub), path, ".pub", "");
	if (r == 0)
		r = pf_audit_keygen(pk, sk);
	if (r == 0)
		r = pf_audit_key_save(path, pub, pk, sk, &why);
	if (r < 0) {
		log_refused("new host key", path, why.path,
			    why.reason[0] != '\0' ? why.reason : strerror(-r), "");
		return r;
	}
	log_msg(LOG_INFO, "transport: new host key %s (public key %s)", path, pub);
	return 0;
}

static uint32_t audit_fsync_policy(uint32_t manifest_fsync)
{
	switch (manifest_fsync) {
	case PF_MANIFEST_FSYNC_EVERY:
		return PF_AUDIT_FSYNC_RECORD;
	case PF_MANIFEST_FSYNC_HEAD:
		return PF_AUDIT_FSYNC_HEAD;
	default:
		return PF_AUDIT_FSYNC_BATCH;
	}
}

static int open_audit(struct daemon *dm)
{
	const struct pf_manifest_governance *g = &dm->manifest->governance;
	struct pf_audit_refusal why = {.size = sizeof(why)};
	unsigned char sk[PF_AUDIT_SECRET_KEY_BYTES];
	struct pf_audit_opts ao;
	int r = audit_paths(dm);

	if (r == 0)
		r = host_key(dm, sk);
	if (r == 0)
		r = porter_init(&dm->control.porter, dm->domain, dm->manifest, sk, NULL);
	if (r == 0)
		r = signing_key(dm, sk);
	if (r < 0) {
		memset(sk, 0, sizeof(sk));
		return r;
	}
	pf_audit_opts_init(&ao);
	ao.flags = PF_AUDIT_REPAIR_TORN; /* a daemon killed mid-write: keep going, say so */
	ao.secret_key = sk;
	ao.sign_every = g->audit_sign_every;
	ao.fsync_policy = audit_fsync_policy(g->audit_fsync);
	ao.rotate_bytes = g->audit_rotate_bytes;
	ao.retain_bytes = g->audit_retain_bytes;
	ao.retain_age_s = (g->audit_retain_age_ns + 999999999u) / 1000000000u;
	r = pf_audit_open(dm->audit_path, &ao, &dm->log, &why);
	memset(sk, 0, sizeof(sk));
	if (r < 0) {
		log_refused("audit log", dm->audit_path, why.path, why.reason,
			    r == -EBUSY    ? "another pflightd runs on it?"
			    : r == -EPROTO ? "run `pflight audit verify` and move the log aside"
					   : "");
		return r;
	}
	log_msg(LOG_INFO, "audit log %s (key %s)", dm->audit_path, dm->key_path);
	return 0;
}

static int start_agents(struct daemon *dm)
{
	struct pf_rebalance_opts ro;
	const struct pf_manifest_scheduling *s = &dm->manifest->scheduling;
	int r = pf_manifest_rebalance_opts(dm->manifest, &ro);

	/* The strategy is reloadable: the manifest's wins over an adopted domain's. */
	if (r == 0)
		r = pf_sched_configure(dm->domain, s->strategy, s->trust_floor_ppm, s->epsilon_ppm);
	if (r == 0)
		r = cmdq_create(&dm->to_scheduler);
	if (r == 0)
		r = cmdq_create(&dm->to_auditor);
	if (r == 0)
		r = cmdq_create(&dm->to_conductor);
	if (r == 0)
		r = cmdq_create(&dm->to_http);
	if (r == 0)
		r = cmdq_create(&dm->to_hosts);
	if (r == 0 && (dm->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		r = -errno;
	if (r == 0)
		r = conductor_init(&dm->conductor, dm->domain, dm->manifest, dm->to_conductor,
				   dm->to_auditor, dm->wake_fd);
	if (r == 0)
		r = scheduler_init(&dm->scheduler, dm->domain, dm->to_scheduler, dm->to_auditor,
				   &ro, dm->manifest);
	if (r == 0)
		r = auditor_init(&dm->auditor, dm->domain, dm->log, dm->to_auditor);
	if (r < 0) {
		log_msg(LOG_ERROR, "agents: %s", strerror(-r));
		return r;
	}
	{
		const struct agent agents[] = {
			{"conductor", conductor_do_work, conductor_park, &dm->conductor},
			{"scheduler", scheduler_do_work, NULL, &dm->scheduler},
			{"auditor", auditor_do_work, NULL, &dm->auditor},
		};

		r = runner_create(dm->opt.mode, &dm->opt.idle, agents, 3, &dm->runner);
	}
	return r;
}

static void record_start(struct daemon *dm)
{
	char details[512];

	/* What was there is taken as seen, not recorded: say how much of it there was. */
	(void)snprintf(details, sizeof(details),
		       "{\"pid\":%d,\"domain\":\"%s\",\"adopted\":%s,\"members\":%u,"
		       "\"vnodes_defined\":%u,\"vnodes_owned\":%u,\"mode\":\"%s\","
		       "\"strategy\":\"%s\",\"version\":\"%s\",\"revision\":\"%s\"}",
		       (int)getpid(), dm->name, dm->adopted ? "true" : "false",
		       auditor_live(&dm->auditor), dm->auditor.watch.defined_at_start,
		       dm->auditor.watch.owned_at_start, runner_mode_name(dm->opt.mode),
		       pf_sched_strategy_name(dm->manifest->scheduling.strategy), build_version(),
		       build_revision());
	(void)auditor_append(&dm->auditor, "daemon_start", "pflightd", details, PF_AUDIT_NO_VNODE);
}

static void record_stop(struct daemon *dm, int status)
{
	const struct watch *w = &dm->auditor.watch;
	const struct admission *ad = &dm->conductor.admission;
	char details[1024];

	/* Every agent's statistics, the ones no other record carries included: ownership
	 * histories the watcher refused as no correct writer's (anomalies) or could not read
	 * (vnode_read_errors) show a damaged or hostile segment. */
	(void)snprintf(
		details, sizeof(details),
		"{\"pid\":%d,\"status\":%d,\"placed\":%llu,\"moves\":%llu,\"repairs\":%llu,"
		"\"quarantines\":%llu,"
		"\"placements_recorded\":%llu,\"unplaced\":%llu,\"explanations_lost\":%llu,"
		"\"ownership_recorded\":%llu,\"epochs_unseen\":%llu,\"placements_late\":%llu,"
		"\"sweeps\":%llu,\"settle_full\":%llu,\"anomalies\":%llu,"
		"\"vnode_read_errors\":%llu,\"admitted\":%llu,\"admit_refused\":%llu,"
		"\"reviewed\":%llu}",
		(int)getpid(), status, (unsigned long long)dm->scheduler.placed,
		(unsigned long long)dm->scheduler.moves, (unsigned long long)dm->conductor.repairs,
		(unsigned long long)dm->conductor.quarantines,
		(unsigned long long)dm->auditor.placements,
		(unsigned long long)dm->auditor.unplaced, (unsigned long long)dm->auditor.lost,
		(unsigned long long)w->records, (unsigned long long)w->epochs_unseen,
		(unsigned long long)w->placements_late, (unsigned long long)w->sweeps,
		(unsigned long long)w->defer_full, (unsigned long long)w->anomalies,
		(unsigned long long)w->read_errors, (unsigned long long)ad->admitted,
		(unsigned long long)ad->refused, (unsigned long long)ad->reviewed);
	(void)auditor_append(&dm->auditor, "daemon_stop", "pflightd", details, PF_AUDIT_NO_VNODE);
}

/* Hand new policies to the agents that judge (each gets its own copy) and to ours. The API's
 * queue only while the API runs: nobody would take them otherwise. */
static int send_governance(struct daemon *dm, const struct pf_manifest_governance *gov)
{
	struct cmdq *to[] = {dm->to_conductor, dm->to_scheduler,
			     dm->http != NULL ? dm->to_http : NULL};
	struct pf_manifest_governance *mine = governor_copy(gov);

	if (mine == NULL)
		return -ENOMEM;
	governor_set(&dm->control.mig.gov, mine);
	for (size_t i = 0; i < sizeof(to) / sizeof(to[0]); i++) {
		struct cmd c;
		int r;

		if (to[i] == NULL)
			continue;
		memset(&c, 0, sizeof(c));
		c.type = CMD_GOVERNANCE;
		c.ptr = governor_copy(gov);
		if (c.ptr == NULL)
			return -ENOMEM;
		r = cmdq_send(to[i], &c);
		if (r < 0) {
			free(c.ptr);
			return r;
		}
	}
	return 0;
}

/* Apply what a reloaded manifest changes. The caller checked it is all reloadable. */
static void apply_reload(struct daemon *dm, const struct pf_manifest *next)
{
	const struct pf_manifest_scheduling *s = &next->scheduling;
	char details[CMDQ_TEXT_MAX];
	struct cmd c;
	int r;

	memset(&c, 0, sizeof(c));
	c.type = CMD_REBALANCE;
	r = pf_sched_configure(dm->domain, s->strategy, s->trust_floor_ppm, s->epsilon_ppm);
	if (r == 0)
		r = pf_manifest_rebalance_opts(next, &c.rebalance);
	c.drain_timeout_ns = next->membership.drain_timeout_ns;
	c.drain_parallel = next->membership.drain_parallel;
	if (r == 0)
		r = cmdq_send(dm->to_scheduler, &c);
	if (r < 0) {
		log_msg(LOG_ERROR, "reload: %s; scheduling settings may be partly applied",
			strerror(-r));
		return;
	}
	if (memcmp(&dm->manifest->governance, &next->governance, sizeof(next->governance)) != 0 &&
	    (r = send_governance(dm, &next->governance)) < 0)
		log_msg(LOG_ERROR, "reload: policies not applied everywhere: %s", strerror(-r));
	*dm->manifest = *next;
	json_escape(dm->opt.manifest_path, details, sizeof(details));
	if (cmdq_record(dm->to_auditor, "manifest_reload", PF_AUDIT_NO_VNODE,
			"{\"manifest\":\"%s\",\"strategy\":\"%s\",\"trust_floor_ppm\":%u,"
			"\"tokens_required\":%s,\"policy_rules\":[%u,%u,%u]}",
			details, pf_sched_strategy_name(s->strategy), s->trust_floor_ppm,
			next->governance.tokens_required ? "true" : "false",
			next->governance.can_register.rules_count,
			next->governance.can_assign.rules_count,
			next->governance.can_handoff.rules_count) < 0)
		log_msg(LOG_ERROR, "auditor queue full: manifest_reload not audited");
	log_msg(LOG_INFO, "reload: applied (strategy %s, trust floor %u ppm)",
		pf_sched_strategy_name(s->strategy), s->trust_floor_ppm);
}

static void reload(struct daemon *dm)
{
	struct pf_manifest_error err;
	struct pf_manifest *next;

	if (dm->opt.manifest_path == NULL) {
		log_msg(LOG_INFO, "SIGHUP: started without a manifest, nothing to reload");
		return;
	}
	next = malloc(sizeof(*next));
	if (next == NULL) {
		log_msg(LOG_ERROR, "reload: %s", strerror(ENOMEM));
		return;
	}
	memset(&err, 0, sizeof(err));
	if (load_manifest(dm->opt.manifest_path, next) < 0) {
		log_msg(LOG_WARN, "reload refused: the running manifest stays");
	} else if (pf_manifest_reload_check(dm->manifest, next, &err) < 0) {
		log_msg(LOG_WARN, "reload refused: %s (restart pflightd to change it)", err.reason);
	} else {
		apply_reload(dm, next);
	}
	free(next);
}

/* Block the signals we take from a signalfd, in this thread and every thread it starts. */
static int signals_open(void)
{
	sigset_t set;
	int fd;

	(void)signal(SIGPIPE, SIG_IGN);
	(void)sigemptyset(&set);
	(void)sigaddset(&set, SIGTERM);
	(void)sigaddset(&set, SIGINT);
	(void)sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

/* One signal, if one is waiting: 1 to stop, 0 to go on. */
static int take_signal(struct daemon *dm)
{
	struct signalfd_siginfo si;

	if (read(dm->sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return 0;
	if (si.ssi_signo == SIGHUP) {
		log_msg(LOG_INFO, "SIGHUP from pid %u: reloading %s", si.ssi_pid,
			dm->opt.manifest_path != NULL ? dm->opt.manifest_path : "(none)");
		reload(dm);
		return 0;
	}
	log_msg(LOG_INFO, "%s from pid %u: stopping", strsignal((int)si.ssi_signo), si.ssi_pid);
	return 1;
}

/* Members cordoned for a stop (membership.on_stop: drain): how many. */
static uint32_t drain_all(struct daemon *dm)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	uint32_t n = 0;

	(void)pf_domain_info(dm->domain, &di);
	for (uint32_t slot = 0; slot < di.members_max; slot++)
		n += pf_member_cordon(dm->domain, slot, 0) == 0;
	log_msg(LOG_INFO,
		"stopping: %u members cordoned; waiting for their drains (at most %llu "
		"ms)",
		n, (unsigned long long)(dm->manifest->membership.drain_timeout_ns / 1000000u));
	return n;
}

/* 1 while some member is still DRAINING. */
static int draining(struct daemon *dm)
{
	struct pf_domain_info di = {.size = sizeof(di)};

	(void)pf_domain_info(dm->domain, &di);
	for (uint32_t slot = 0; slot < di.members_max; slot++) {
		struct pf_member_info mi = {.size = sizeof(mi)};

		if (pf_member_info(dm->domain, slot, &mi) == 0 && mi.state == PF_MEMBER_DRAINING)
			return 1;
	}
	return 0;
}

/* A stop was asked: 1 to stop now, 0 to go on draining first (on_stop: drain). */
static int stop_now(struct daemon *dm, uint64_t *drain_until)
{
	int on_stop =
		dm->opt.on_stop >= 0 ? dm->opt.on_stop : (int)dm->manifest->membership.on_stop;
	uint64_t drain_ns = dm->manifest->membership.drain_timeout_ns + STOP_GRACE_NS;

	if (*drain_until != 0 || on_stop != PF_MANIFEST_ON_STOP_DRAIN)
		return 1; /* keep, or a second signal while draining */
	/* The drain may outlast TimeoutStopSec: systemd would SIGKILL us before the audit log
	 * is signed and closed. Said before the cordons, so that it holds once they are. */
	notify_stopping(drain_ns + STOP_CLOSE_NS);
	if (drain_all(dm) == 0 && !draining(dm))
		return 1;
	*drain_until = mono_ns() + drain_ns;
	return 0;
}

/* For the watchdog: an agent thread, of the agents or of the API, that made no pass since
 * the last look (both runners are looked at every time); NULL when none. */
static const char *agents_stalled(void *arg)
{
	struct daemon *dm = arg;
	const char *agents = runner_stalled(dm->runner), *api = runner_stalled(dm->http_runner);

	return agents != NULL ? agents : api;
}

/* The main thread: signals, and in invoker mode the agents' passes too. */
static int main_loop(struct daemon *dm)
{
	struct pollfd pfd[2] = {{.fd = dm->sigfd, .events = POLLIN},
				{.fd = control_poll_fd(&dm->control), .events = POLLIN}};
	uint64_t drain_until = 0;

	for (;;) {
		uint64_t ns = (uint64_t)MAIN_POLL_MS * 1000000u, wd_ns;
		struct timespec ts;
		int r;

		if (dm->opt.mode == RUNNER_INVOKER) {
			r = runner_invoke(dm->runner);
			if (r < 0)
				return r;
			ns = runner_idle_step(dm->runner, r);
		} else if ((r = runner_error(dm->runner)) < 0) {
			return r;
		}
		wd_ns = notify_watchdog(&dm->notify, mono_ns(), agents_stalled, dm);
		ns = wd_ns < ns ? wd_ns : ns;
		ts.tv_sec = (time_t)(ns / 1000000000u);
		ts.tv_nsec = (long)(ns % 1000000000u);
		r = ppoll(pfd, 2, &ts, NULL);
		if (r < 0 && errno != EINTR)
			return -errno;
		/* Never waits; also closes connections whose time ran out. */
		if ((r > 0 && (pfd[1].revents & POLLIN) != 0) || dm->control.conns_count > 0)
			(void)control_serve(&dm->control);
		if (r > 0 && (pfd[0].revents & POLLIN) != 0 && take_signal(dm) &&
		    stop_now(dm, &drain_until))
			return 0;
		if (drain_until != 0 && (!draining(dm) || mono_ns() >= drain_until)) {
			log_msg(LOG_INFO, "stopping: %s",
				draining(dm) ? "drain deadline passed" : "every drain is over");
			return 0;
		}
	}
}

/* Without --foreground: fork; the parent waits until the child is up (or failed) and
 * exits with that, so `pflightd && next-step` works. The child starts a new session. */
static int background(struct daemon *dm)
{
	int fds[2], status = 0;
	pid_t pid;
	char c;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		(void)close(fds[1]);
		if (read(fds[0], &c, 1) == 1)
			exit(0);
		(void)waitpid(pid, &status, 0);
		exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
	}
	(void)close(fds[0]);
	dm->ready_fd = fds[1];
	(void)setsid();
	if (freopen("/dev/null", "r", stdin) == NULL)
		return -errno;
	return 0;
}

static void ready(struct daemon *dm)
{
	char c = 'r', status[128];

	(void)snprintf(status, sizeof(status), "domain %s, %s mode", dm->name,
		       runner_mode_name(dm->opt.mode));
	log_msg(LOG_INFO, "ready: %s, pid %d", status, (int)getpid());
	notify_init(&dm->notify, mono_ns());
	notify_ready(status);
	if (dm->ready_fd >= 0) {
		if (write(dm->ready_fd, &c, 1) != 1)
			log_msg(LOG_WARN, "could not tell the parent we are up");
		(void)close(dm->ready_fd);
		dm->ready_fd = -1;
	}
}

/* Stop the agents, record what they left and the stop, close the log (signed head) and
 * the domain. Accepts a partly started daemon. */
static int shut_down(struct daemon *dm, int status)
{
	int r = 0;

	notify_stopping(0);
	runner_destroy(dm->http_runner); /* first: its requests may queue records */
	dm->http_runner = NULL;
	runner_destroy(dm->dir_runner); /* its thread: the directory stays for control's reads */
	dm->dir_runner = NULL;
	runner_destroy(dm->hosts_runner);
	dm->hosts_runner = NULL;
	hosts_destroy(dm->hosts);
	dm->hosts = NULL;
	http_destroy(dm->http);
	dm->http = NULL;
	control_close(&dm->control); /* its last admission records are still queued */
	dm->control.dir = NULL;
	directory_destroy(dm->dir); /* leaves the cluster: the others see it leave */
	dm->dir = NULL;
	migrator_fini(&dm->control.mig);
	porter_fini(&dm->control.porter);
	runner_destroy(dm->runner);
	dm->runner = NULL;
	if (dm->auditor.seen != NULL) {
		/* The runner is gone: this thread is the agents' only one now. */
		while (auditor_do_work(&dm->auditor) > 0)
			;
		(void)auditor_flush(&dm->auditor);
		record_stop(dm, status);
	}
	auditor_fini(&dm->auditor);
	scheduler_fini(&dm->scheduler);
	conductor_fini(&dm->conductor);
	if (dm->log != NULL) {
		r = pf_audit_close(dm->log);
		if (r < 0)
			log_msg(LOG_ERROR, "audit log close: %s", strerror(-r));
	}
	if (dm->domain != NULL && dm->opt.destroy_on_exit) {
		int d = pf_domain_destroy(dm->domain);

		log_msg(d < 0 ? LOG_ERROR : LOG_INFO, "domain %s destroyed%s%s", dm->name,
			d < 0 ? ": " : "", d < 0 ? strerror(-d) : "");
	} else if (dm->domain != NULL) {
		pf_domain_close(dm->domain);
		log_msg(LOG_INFO, "domain %s closed; its workers keep running", dm->name);
	}
	cmdq_destroy(dm->to_scheduler);
	cmdq_destroy(dm->to_auditor);
	cmdq_destroy(dm->to_conductor);
	cmdq_destroy(dm->to_http);
	cmdq_destroy(dm->to_hosts);
	free(dm->manifest);
	if (dm->sigfd >= 0)
		(void)close(dm->sigfd);
	if (dm->wake_fd >= 0)
		(void)close(dm->wake_fd);
	return status != 0 ? status : (r < 0 ? 1 : 0);
}

/* The control socket, and what its migrate requests need. Without it the daemon does
 * not start: a worker would find the path free for anyone to bind, and hand its join
 * token to whoever did. */
static int open_control(struct daemon *dm)
{
	const struct pf_manifest_governance *g = &dm->manifest->governance;
	char path[PF_CONTROL_PATH_MAX], why[256];
	int r = migrator_init(&dm->control.mig, dm->domain, dm->manifest, dm->to_auditor);

	if (r == 0 && dm->opt.control_path != NULL)
		r = snprintf(path, sizeof(path), "%s", dm->opt.control_path) < (int)sizeof(path)
			    ? 0
			    : -ENAMETOOLONG;
	else if (r == 0)
		r = pf_control_path(dm->name, PF_CONTROL_PATH_SERVER, path, sizeof(path)) < 0
			    ? -ENAMETOOLONG
			    : 0; /* it returns the path's length */
	dm->control.domain_name = dm->name;
	dm->control.domain = dm->domain;
	dm->control.to_auditor = dm->to_auditor;
	dm->control.to_conductor = dm->to_conductor;
	dm->control.porter.to_auditor = dm->to_auditor;
	if (r < 0) {
		log_msg(LOG_ERROR, "control socket: %s", strerror(-r));
		return r;
	}
	r = control_open(&dm->control, path, g->segment_mode, g->group, why, sizeof(why));
	if (r < 0)
		log_msg(LOG_ERROR, "control socket %s refused: %s; not starting without it", path,
			why);
	else
		log_msg(LOG_INFO, "control socket %s", dm->control.path);
	return r;
}

/* The REST API on its own thread; the daemon runs on without it (logged by http.c). */
static void open_api(struct daemon *dm)
{
	const struct idle_strategy idle = {.spins = 0, .yields = 0, .park_ns = HTTP_PARK_NS};
	struct http_config cfg = {
		.manifest = dm->manifest,
		.domain_name = dm->name,
		.domain = dm->domain,
		.audit_path = dm->audit_path,
		.log = dm->log,
		.cluster_json = dm->dir != NULL ? directory_json : NULL,
		.cluster_arg = dm->dir,
		.pk = dm->control.pk,
		.to_auditor = dm->to_auditor,
		.inbox = dm->to_http,
		.start_ns = dm->start_ns,
		.port = dm->opt.api_port,
		.wake_fd = dm->wake_fd,
	};
	struct agent agent = {"http", http_do_work, http_park, NULL};
	int r;

	if (!dm->manifest->api.enabled) {
		log_msg(LOG_INFO, "api: disabled (api.enabled: false)");
		return;
	}
	if (http_create(&cfg, &dm->http) < 0)
		return;
	agent.arg = dm->http;
	r = runner_create(RUNNER_DEDICATED, &idle, &agent, 1, &dm->http_runner);
	if (r == 0)
		r = runner_start(dm->http_runner);
	if (r < 0) {
		log_msg(LOG_ERROR, "api: no thread for it (%s); running without the API",
			strerror(-r));
		runner_destroy(dm->http_runner);
		dm->http_runner = NULL;
		http_destroy(dm->http);
		dm->http = NULL;
	}
}

static void kick_agents(void *arg)
{
	struct daemon *dm = arg;

	scheduler_poke(&dm->scheduler);
	runner_kick(dm->runner);
}

/* The host agent (hosts.h), when transport.peers lists somebody: a host with no peers
 * accepts no link, so it does not listen either. What a daemon that died left between
 * hosts is settled first (buffers it held, LEAVING and ARRIVING words). */
static int open_hosts(struct daemon *dm)
{
	struct idle_strategy idle = {.spins = 200, .yields = 20, .park_ns = 1000000u};
	struct agent agent = {"hosts", hosts_do_work, hosts_park, NULL};
	char marks[PF_AUDIT_PATH_MAX];
	int r;

	if (dm->manifest->transport.peers_count == 0)
		return 0;
	r = pf_transit_recover(dm->domain);
	if (r > 0)
		log_msg(LOG_INFO, "transport: %d checkpoint buffers a dead daemon held: settled",
			r);
	r = beside_audit(dm, ".forward", marks, sizeof(marks));
	if (r == 0)
		r = hosts_create(dm->domain, dm->manifest, dm->control.porter.sk,
				 dm->control.porter.host, marks, !dm->adopted, dm->log,
				 dm->to_hosts, dm->to_auditor, &dm->hosts);
	if (r < 0)
		return r;
	emigrate_recover(dm->hosts);
	immigrate_recover(dm->hosts);
	hosts_on_arrival(dm->hosts, kick_agents, dm);
	agent.arg = dm->hosts;
	r = runner_create(RUNNER_DEDICATED, &idle, &agent, 1, &dm->hosts_runner);
	if (r == 0)
		r = runner_start(dm->hosts_runner);
	if (r < 0)
		log_msg(LOG_ERROR, "transport: no thread for it: %s", strerror(-r));
	dm->control.hosts = dm->hosts;
	dm->control.to_hosts = dm->to_hosts;
	return r;
}

/* This host in the cluster's directory (directory.h), when cluster.etcd_endpoints lists
 * any: on a thread of its own, since it waits on etcd. */
static int open_directory(struct daemon *dm)
{
	struct idle_strategy idle = {.spins = 0, .yields = 0, .park_ns = 100000000u};
	struct agent agent = {"directory", directory_do_work, directory_park, NULL};
	int r = directory_create(dm->manifest, dm->control.porter.host, dm->control.porter.sk + 32,
				 dm->domain, dm->to_auditor, &dm->dir);

	if (r < 0 || dm->dir == NULL)
		return r;
	agent.arg = dm->dir;
	dm->control.dir = dm->dir;
	r = runner_create(RUNNER_DEDICATED, &idle, &agent, 1, &dm->dir_runner);
	if (r == 0)
		r = runner_start(dm->dir_runner);
	if (r < 0)
		log_msg(LOG_ERROR, "cluster: no thread for it: %s", strerror(-r));
	return r;
}

/* The simulation domains a killed pflightd of this domain left (http_sim.c): removed before
 * anything runs. One that cannot be only costs memory: the daemon runs on. */
static void sweep_simulations(struct daemon *dm)
{
	int n = api_sim_sweep(dm->name);

	if (n < 0)
		log_msg(LOG_WARN, "simulation segments: /dev/shm cannot be read: %s", strerror(-n));
	else if (n > 0)
		log_msg(LOG_INFO, "%d simulation segments a killed pflightd left: removed", n);
}

static int set_up(struct daemon *dm)
{
	const char *name = dm->opt.domain != NULL ? dm->opt.domain : dm->manifest->metadata.name;
	int r;

	if (path_join(dm->name, sizeof(dm->name), name, "", "") < 0) {
		log_msg(LOG_ERROR, "domain name too long: %s", name);
		return -ENAMETOOLONG;
	}
	r = signals_open();
	if (r < 0) {
		log_msg(LOG_ERROR, "signalfd: %s", strerror(-r));
		return r;
	}
	dm->sigfd = r;
	r = open_domain(dm);
	if (r == 0)
		sweep_simulations(dm);
	if (r == 0)
		r = open_audit(dm);
	if (r == 0)
		r = start_agents(dm);
	if (r < 0)
		return r;
	record_start(dm);
	r = open_control(dm);
	if (r < 0)
		return r;
	r = runner_start(dm->runner);
	if (r < 0)
		log_msg(LOG_ERROR, "runner: %s", strerror(-r));
	if (r == 0)
		r = open_directory(dm); /* before the API, which serves what it says */
	if (r == 0)
		open_api(dm);
	if (r == 0)
		r = open_hosts(dm);
	return r;
}

int main(int argc, char **argv)
{
	static struct daemon dm;
	int r;

	dm.sigfd = -1;
	dm.ready_fd = -1;
	dm.wake_fd = -1;
	dm.start_ns = mono_ns();
	dm.control.fd = -1;
	dm.control.epfd = -1;
	if (parse_args(argc, argv, &dm.opt) < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	log_set_level(dm.opt.level);
	(void)log_set_target(dm.opt.log_target);
	dm.manifest = malloc(sizeof(*dm.manifest));
	if (dm.manifest == NULL)
		return 1;
	if (load_manifest(dm.opt.manifest_path, dm.manifest) < 0) {
		free(dm.manifest);
		return EXIT_USAGE;
	}
	if (!dm.opt.foreground && background(&dm) < 0) {
		log_msg(LOG_ERROR, "cannot start in the background: %s", strerror(errno));
		free(dm.manifest);
		return 1;
	}
	r = set_up(&dm);
	if (r == 0) {
		ready(&dm);
		r = main_loop(&dm);
	}
	return shut_down(&dm, r < 0 ? 1 : 0);
}
