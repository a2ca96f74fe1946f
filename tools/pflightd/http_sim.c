/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/http_sim.c: the simulator behind POST /api/v1/sim (http_api.h).
 *
 * The simulator runs on this thread, in a private domain (pflight/sim.h); a request waits
 * for it (sizes are bounded below so that a run takes about a second at most) and other
 * requests wait behind it: one simulation at a time, by construction.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/common/jdoc.h"
#include "tools/pflightd/http_api.h"

#define SIM_MEMBERS_MAX 2000u /* the dashboard's sliders top out here: a run stays near 1 s */
#define SIM_VNODES_MAX 200000u
#define SIM_DURATION_S_MAX 3600u
#define SIM_POINTS_MAX 3600u

enum {
	B_PRESET,
	B_STRATEGY,
	B_MEMBERS,
	B_VNODES,
	B_SEED,
	B_DURATION,
	B_INTERVAL,
	B_JOIN,
	B_FAILURE,
	B_RETIRE,
	B_HEARTBEAT,
	B_COUNT
};
_Static_assert(B_COUNT == API_SIM_FIELDS, "http_api.h sizes the simulator's fields");
const struct api_field api_sim_body[API_SIM_FIELDS] = {
	[B_PRESET] = {"preset", API_T_STRING, 0, 0, 0, NULL},
	[B_STRATEGY] = {"strategy", API_T_STRING, 0, 0, 0, NULL},
	[B_MEMBERS] = {"members", API_T_U32, 0, 0, SIM_MEMBERS_MAX, NULL},
	[B_VNODES] = {"vnodes", API_T_U32, 0, 1, SIM_VNODES_MAX, NULL},
	[B_SEED] = {"seed", API_T_U32, 0, 0, UINT32_MAX, NULL},
	[B_DURATION] = {"duration_s", API_T_NUMBER, 0, 0, SIM_DURATION_S_MAX, NULL},
	[B_INTERVAL] = {"interval_s", API_T_NUMBER, 0, 0, SIM_DURATION_S_MAX, NULL},
	[B_JOIN] = {"join_per_min", API_T_NUMBER, 0, 0, 1000000, NULL},
	[B_FAILURE] = {"failure_per_min", API_T_NUMBER, 0, 0, 1000000, NULL},
	[B_RETIRE] = {"retire_per_min", API_T_NUMBER, 0, 0, 1000000, NULL},
	[B_HEARTBEAT] = {"heartbeat_timeout_ms", API_T_U32, 0, 0, 3600000, NULL},
};

/* The options a request asks for: the preset's defaults, then each field given. */
static int sim_opts(const struct api_call *call, struct pf_sim_opts *o, struct api_error *err)
{
	const struct api_value *b = call->body;
	int preset = b[B_PRESET].set ? pf_sim_preset_find(b[B_PRESET].s) : PF_SIM_DMA;

	pf_sim_opts_init(o);
	if (preset < 0 || pf_sim_opts_preset(o, (uint32_t)preset) < 0) {
		api_error_set(err, 400, "bad_field",
			      "preset must be one of dma, distributed, cloud-native, ai-agents");
		return -EINVAL;
	}
	if (b[B_STRATEGY].set) {
		uint32_t k = 0;

		/* The library's names (pflight sim parses them the same way). */
		while (pf_sched_strategy_name(k) != NULL &&
		       strcmp(pf_sched_strategy_name(k), b[B_STRATEGY].s) != 0)
			k++;
		if (pf_sched_strategy_name(k) == NULL) {
			api_error_set(err, 400, "bad_field",
				      "strategy must be one of trust-weighted, consistent-hash, "
				      "bin-packing, agent");
			return -EINVAL;
		}
		o->strategy = k;
	}
	if (b[B_MEMBERS].set)
		o->members = (uint32_t)b[B_MEMBERS].u;
	if (b[B_VNODES].set)
		o->vnodes = (uint32_t)b[B_VNODES].u;
	if (b[B_SEED].set)
		o->seed = b[B_SEED].u;
	if (b[B_DURATION].set)
		o->duration_ns = (uint64_t)llround(b[B_DURATION].d * 1e9);
	if (b[B_INTERVAL].set)
		o->interval_ns = (uint64_t)llround(b[B_INTERVAL].d * 1e9);
	if (b[B_JOIN].set)
		o->join_per_min = b[B_JOIN].d;
	if (b[B_FAILURE].set)
		o->failure_per_min = b[B_FAILURE].d;
	if (b[B_RETIRE].set)
		o->retire_per_min = b[B_RETIRE].d;
	if (b[B_HEARTBEAT].set)
		o->heartbeat_timeout_ns = b[B_HEARTBEAT].u * 1000000u;
	return 0;
}

static int sim_point(void *arg, const struct pf_sim_point *p)
{
	json_t *o = jdoc_sim_point(p);

	return o != NULL && json_array_append_new(arg, o) == 0 ? 0 : -ENOMEM;
}

int api_post_sim(struct api *a, const struct api_call *call, struct api_reply *rep,
		 struct api_error *err)
{
	struct pf_sim_summary sum = {.size = sizeof(sum)};
	const char *field = NULL;
	struct pf_sim_opts o;
	json_t *series;
	int r;

	(void)a;
	if (sim_opts(call, &o, err) < 0)
		return -EINVAL;
	r = pf_sim_opts_check(&o, &field);
	if (r == 0 && o.duration_ns / (o.interval_ns > 0 ? o.interval_ns : 1) > SIM_POINTS_MAX) {
		r = -E2BIG;
		field = "interval_s";
	}
	if (r < 0) {
		api_error_set(err, 400, "bad_field", "%s: %s", field != NULL ? field : "options",
			      r == -E2BIG ? "over its limit here (at most 3,600 points)"
					  : "not a value the simulator takes");
		return r;
	}
	series = json_array();
	r = series != NULL ? pf_sim_run(&o, &sum, sim_point, series) : -ENOMEM;
	if (r < 0) {
		json_decref(series);
		api_error_set(err, r == -ENOMEM || r == -EUSERS || r == -ENOSPC ? 503 : 500,
			      "sim_failed", "the simulation could not run: %s", strerror(-r));
		return r;
	}
	rep->status = 200;
	rep->doc = json_pack("{s:o, s:o, s:o}", "options", jdoc_sim_options(&o), "summary",
			     jdoc_sim_summary(&sum), "series", series);
	if (rep->doc == NULL) {
		api_error_set(err, 500, "internal", "out of memory building the answer");
		return -ENOMEM;
	}
	return 0;
}
