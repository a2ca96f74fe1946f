/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_common.c: placement, clocks, percentiles and JSON-lines output for the
 * benchmarks. Benchmarks are not library code: they print, and exit on setup errors.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_common.h"
#include "bench_git_rev.h"

int bench_allow_cpus(const int *cpus, unsigned count)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	for (unsigned i = 0; i < count; i++)
		CPU_SET(cpus[i], &set);
	return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

int bench_pin_cpu(int cpu)
{
	return bench_allow_cpus(&cpu, 1);
}

static int read_first_int(const char *path, int *ret)
{
	FILE *f = fopen(path, "r");
	int r;

	if (f == NULL)
		return -ENODEV;
	r = fscanf(f, "%d", ret) == 1 ? 0 : -ENODEV;
	fclose(f);
	return r;
}

static bool cpu_online(int cpu)
{
	cpu_set_t set;

	return sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_ISSET(cpu, &set);
}

int bench_placement_cpus(const char *placement, int ret_cpus[2])
{
	char path[128];
	int a = 0, b;

	if (strcmp(placement, "same-node") == 0) {
		b = 1;
	} else if (strcmp(placement, "same-core-smt") == 0) {
		FILE *f = fopen("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list", "r");
		int first = -1, second = -1;

		if (f == NULL)
			return -ENODEV;
		if (fscanf(f, "%d%*[,-]%d", &first, &second) != 2)
			second = -1;
		fclose(f);
		if (second < 0 || second == first)
			return -ENODEV;
		b = second;
	} else if (strcmp(placement, "cross-node") == 0) {
		snprintf(path, sizeof(path), "/sys/devices/system/node/node1/cpulist");
		if (read_first_int(path, &b) < 0)
			return -ENODEV;
	} else {
		return -EINVAL;
	}
	if (!cpu_online(a) || !cpu_online(b))
		return -ENODEV;
	ret_cpus[0] = a;
	ret_cpus[1] = b;
	return 0;
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_rdtsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __builtin_ia32_rdtsc();
#else
	return bench_now_ns();
#endif
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_percentile(double *v, size_t n, double p)
{
	double rank;
	size_t lo;

	qsort(v, n, sizeof(*v), cmp_double);
	rank = p / 100.0 * (double)(n - 1);
	lo = (size_t)rank;
	if (lo + 1 >= n)
		return v[n - 1];
	return v[lo] + (rank - (double)lo) * (v[lo + 1] - v[lo]);
}

static void cpu_model(char *buf, size_t size)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	snprintf(buf, size, "unknown");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
			colon += 2;
			colon[strcspn(colon, "\n")] = '\0';
			snprintf(buf, size, "%s", colon);
			break;
		}
	}
	fclose(f);
}

/* JSON string body: the inputs here are our own names and uname/cpuinfo text. */
static void put_str(const char *key, const char *s)
{
	printf("\"%s\":\"", key);
	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		if ((unsigned char)*s >= 0x20)
			putchar(*s);
	}
	printf("\",");
}

void bench_emit(const struct bench_result *r)
{
	char model[128];
	struct utsname u;
	double ratio = 0;
	bool have_base = r->baseline != NULL && r->baseline_value > 0 && r->value > 0;

	if (uname(&u) < 0)
		snprintf(u.release, sizeof(u.release), "unknown");
	cpu_model(model, sizeof(model));
	if (have_base)
		ratio = r->higher_is_better ? r->value / r->baseline_value
					    : r->baseline_value / r->value;
	printf("{");
	put_str("bench", r->bench);
	put_str("subject", r->subject);
	put_str("metric", r->metric);
	printf("\"value\":%.6g,", r->value);
	put_str("unit", r->unit);
	if (r->baseline != NULL)
		put_str("baseline", r->baseline);
	else
		printf("\"baseline\":null,");
	if (have_base)
		printf("\"baseline_value\":%.6g,\"ratio\":%.4f,", r->baseline_value, ratio);
	else
		printf("\"baseline_value\":null,\"ratio\":null,");
	printf("\"higher_is_better\":%s,", r->higher_is_better ? "true" : "false");
	if (r->goal > 0 && r->goal_on_value) {
		bool met = r->higher_is_better ? r->value >= r->goal : r->value <= r->goal;

		printf("\"goal\":%.6g,\"goal_on\":\"value\",", r->goal);
		printf("\"met\":%s,", met ? "true" : "false");
	} else if (r->goal > 0) {
		printf("\"goal\":%.3g,\"goal_on\":\"ratio\",", r->goal);
		printf("\"met\":%s,", have_base && ratio >= r->goal ? "true" : "false");
	} else {
		printf("\"goal\":null,\"goal_on\":null,\"met\":null,");
	}
	put_str("placement", r->placement);
	printf("\"cpus\":[");
	for (unsigned i = 0; i < r->cpus_count; i++)
		printf("%s%d", i ? "," : "", r->cpus[i]);
	printf("],\"iterations\":%llu,\"batch\":%u,\"elem_bytes\":%u,",
	       (unsigned long long)r->iterations, r->batch, r->elem_bytes);
	printf("\"samples\":%u,\"value_min\":%.6g,\"value_max\":%.6g,", r->samples, r->value_min,
	       r->value_max);
	put_str("git_rev", BENCH_GIT_REV);
	put_str("kernel", u.release);
	printf("\"cpu_model\":\"");
	for (const char *s = model; *s != '\0'; s++) {
		if (*s != '"' && *s != '\\')
			putchar(*s);
	}
	printf("\"}\n");
	fflush(stdout);
}
