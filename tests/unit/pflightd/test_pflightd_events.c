/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/pflightd/test_pflightd_events.c
 * Goal: the event stream's view of the audit log (tools/pflightd/events.c) holds the newest
 * records in seq order, hands each reader the next record after the one it saw, and says
 * how many a reader lost when the ring dropped them; it reads only whole lines (a line
 * being written is taken once complete), skips what is not a record, starts with exactly
 * the file's newest EVENTS_MAX records (fewer when they pass EVENTS_BYTES_MAX: then the
 * newest that fit, from a whole line), which GET /api/v1/audit answers from, follows the
 * log across a rotation without losing the old file's last lines, and waits for a log
 * that does not exist yet.
 * Method: a log file in a temp dir written line by line by the test, polled in between.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tools/pflightd/events.h"

static char dir[64], path[128];
static struct events ev;

static void append(const char *text)
{
	FILE *f = fopen(path, "a");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void record(uint64_t seq, const char *event)
{
	char line[160];

	(void)snprintf(line, sizeof(line), "{\"seq\":%llu,\"event\":\"%s\",\"details\":{}}\n",
		       (unsigned long long)seq, event);
	append(line);
}

/* A record of about pad + 60 bytes. */
static void record_padded(uint64_t seq, const char *event, size_t pad)
{
	char *line = malloc(pad + 128);
	int n;

	assert_non_null(line);
	n = snprintf(line, 128, "{\"seq\":%llu,\"event\":\"%s\",\"details\":{\"pad\":\"",
		     (unsigned long long)seq, event);
	memset(line + n, 'x', pad);
	(void)snprintf(line + n + pad, 128, "\"}}\n");
	append(line);
	free(line);
}

static int setup(void **state)
{
	(void)state;
	(void)snprintf(dir, sizeof(dir), "/tmp/pft-events-XXXXXX");
	assert_non_null(mkdtemp(dir));
	(void)snprintf(path, sizeof(path), "%s/audit.jsonl", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	events_fini(&ev);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_events_follow_whole_lines(void **state)
{
	const struct event *e;
	uint64_t lost = 1;

	(void)state;
	assert_int_equal(events_init(&ev, path), 0); /* no file yet */
	assert_int_equal(events_last(&ev), 0);
	record(1, "daemon_start");
	record(2, "join");
	append("{\"seq\":3,\"event\":\"pla");
	assert_int_equal(events_poll(&ev), 2);
	append("cement\",\"details\":{}}\nnot json\n{\"event\":\"no_seq\"}\n");
	assert_int_equal(events_poll(&ev), 1);
	assert_int_equal(ev.skipped, 2);
	e = events_next(&ev, 1, &lost);
	assert_non_null(e);
	assert_int_equal(e->seq, 2);
	assert_int_equal(lost, 0);
	assert_string_equal(e->name, "join");
	e = events_next(&ev, 2, &lost);
	assert_string_equal(e->name, "placement");
	assert_non_null(strstr(e->line, "\"seq\":3"));
	assert_null(events_next(&ev, 3, NULL));
	assert_int_equal(events_poll(&ev), 0);
}

static void test_events_ring_drops_oldest_and_says_so(void **state)
{
	const struct event *e;
	uint64_t lost = 0;

	(void)state;
	assert_int_equal(events_init(&ev, path), 0);
	for (uint64_t s = 1; s <= EVENTS_MAX + 10; s++)
		record(s, "move");
	while (events_poll(&ev) > 0)
		;
	assert_int_equal(ev.count, EVENTS_MAX);
	assert_int_equal(events_last(&ev), EVENTS_MAX + 10);
	e = events_next(&ev, 5, &lost); /* a reader that saw seq 5: 6..10 are gone */
	assert_int_equal(e->seq, 11);
	assert_int_equal(lost, 5);
	e = events_next(&ev, 500, &lost);
	assert_int_equal(e->seq, 501);
	assert_int_equal(lost, 0);
}

/* A restarted daemon's ring is the log's newest EVENTS_MAX records, in order, whatever the
 * file's size (here about 4 MB, EVENTS_MAX of them about 1 MB), and a last line still
 * being written is taken once complete. */
static void test_events_prefill_is_the_newest_records(void **state)
{
	(void)state;
	for (uint64_t s = 1; s <= 4000; s++)
		record_padded(s, "claim", 1000);
	append("{\"seq\":4001,\"event\":\"cl");
	assert_int_equal(events_init(&ev, path), 0);
	assert_int_equal(ev.count, EVENTS_MAX);
	assert_int_equal(events_at(&ev, 0)->seq, 4000 - EVENTS_MAX + 1);
	assert_int_equal(events_at(&ev, EVENTS_MAX - 1)->seq, 4000);
	for (uint32_t i = 1; i < ev.count; i++)
		assert_int_equal(events_at(&ev, i)->seq, events_at(&ev, i - 1)->seq + 1);
	append("aim\",\"details\":{}}\n");
	assert_int_equal(events_poll(&ev), 1);
	assert_int_equal(events_at(&ev, ev.count - 1)->seq, 4001);
	assert_string_equal(events_at(&ev, ev.count - 1)->name, "claim");
}

/* Records too large for EVENTS_MAX of them to fit EVENTS_BYTES_MAX: the prefill looks back
 * that many bytes, drops the line it lands in, and keeps the newest that fit. */
static void test_events_prefill_bounded_by_bytes(void **state)
{
	enum { PAD = 8000, RECORDS = 700 };
	uint64_t first;

	(void)state;
	for (uint64_t s = 1; s <= RECORDS; s++)
		record_padded(s, "move", PAD);
	assert_int_equal(events_init(&ev, path), 0);
	assert_int_equal(events_last(&ev), RECORDS);
	assert_true(ev.count < EVENTS_MAX && ev.bytes <= EVENTS_BYTES_MAX);
	assert_true(ev.bytes + 2 * (PAD + 64) > EVENTS_BYTES_MAX); /* no more than a line short */
	first = events_at(&ev, 0)->seq;
	assert_int_equal(first + ev.count - 1, RECORDS);
	assert_true(ev.skipped <= 1); /* the line it landed in, if any: dropped, not a record */
}

static void test_events_rotation(void **state)
{
	char old[160];
	const struct event *e;

	(void)state;
	for (uint64_t s = 1; s <= 4000; s++)
		record(s, "claim");
	assert_int_equal(events_init(&ev, path), 0);
	assert_true(events_last(&ev) == 4000);
	record(4001, "head");
	(void)snprintf(old, sizeof(old), "%s.00000000000000000001", path);
	assert_int_equal(rename(path, old), 0);
	record(4002, "rotate"); /* the new live file */
	assert_int_equal(events_poll(&ev), 2);
	e = events_next(&ev, 4000, NULL);
	assert_string_equal(e->name, "head");
	e = events_next(&ev, 4001, NULL);
	assert_string_equal(e->name, "rotate");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_events_follow_whole_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_ring_drops_oldest_and_says_so, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_events_prefill_is_the_newest_records, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_events_prefill_bounded_by_bytes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_events_rotation, setup, teardown),
	};

	return cmocka_run_group_tests_name("pflightd_events", tests, NULL, NULL);
}
