// SPDX-License-Identifier: MIT
// The pflightd dashboard. Plain JavaScript, no framework, no build step, nothing fetched
// from anywhere but the daemon that serves it.
//
// Data: the REST API under /api/v1 (read paths come from the domain's shared memory) and
// the event stream /api/v1/events (every audit record as it is appended). An event marks
// what it touches as stale; stale views are refreshed at most every REFRESH_MS, so a burst
// of placements costs one fetch, not one per record. When the daemon goes away the
// EventSource reconnects by itself; the views keep the last data, a banner says so, and
// everything is fetched again once the stream is back.
'use strict';

const API = '/api/v1';
const REFRESH_MS = 500;
const METRICS_MS = 2000;
const SPARK_POINTS = 60;
const JOB_POLL_MS = 250;
const TIMELINE_MAX = 60;
const MEMBER_EVENTS = new Set(['join', 'leave', 'death', 'drain_start', 'drain_done',
	'retire', 'admit', 'admit_refused', 'review']);
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2',
	'#7f7f7f', '#bcbd22', '#17becf', '#393b79', '#637939', '#8c6d31', '#843c39', '#7b4173'];

const state = {
	summary: null,
	members: [],
	vmap: null, // the last GET /vnodes/map of the range shown
	vrange: { from: 0, to: null, up: [] }, // the range drilled into (to null: the table)
	vlist: { key: '', owner: null, items: [], cursor: null, total: 0 },
	metrics: null,
	series: { health: [], stability: [], availability: [], churn: [] },
	timeline: [],
	stale: new Set(['summary', 'members', 'capabilities', 'vnodes', 'decisions', 'audit']),
	online: false,
	refreshing: false,
	token: sessionStorage.getItem('pflight-token') || '',
};

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (k === 'class') e.className = v;
		else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
		else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v);
	}
	for (const c of children.flat()) {
		if (c === null || c === undefined) continue;
		e.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
	return e;
}

const fmt = {
	ratio: (x) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(3)),
	num: (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(d)),
	int: (x) => (x === null || x === undefined ? '–' : String(x)),
};

// ---- talking to the daemon ----

async function get(path) {
	const r = await fetch(API + path, { cache: 'no-store' });
	if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
	return r.json();
}

async function post(path, body) {
	const headers = { 'Content-Type': 'application/json' };
	if (state.token) headers.Authorization = `Bearer ${state.token}`;
	const r = await fetch(API + path, { method: 'POST', headers, body: JSON.stringify(body || {}) });
	const doc = await r.json().catch(() => ({}));
	if (!r.ok) {
		const e = doc.error || {};
		throw new Error(`${e.code || r.status}: ${e.message || r.statusText}`);
	}
	return doc;
}

// A long request (a verification, a simulation) runs as a job: the POST answers the job at
// once; it is followed until it finished. onProgress sees it while it waits or runs; the
// result is the job's, an error says why it did not finish (failed, cancelled).
async function runJob(path, body, onProgress) {
	let job = await post(path, body);
	while (job.state === 'queued' || job.state === 'running') {
		if (onProgress) onProgress(job);
		await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
		job = await get(`/jobs/${job.id}`);
	}
	if (job.state !== 'done') {
		const e = job.error || {};
		throw new Error(`${e.code || job.state}: ${e.message || ''}`);
	}
	return job.result;
}

function percent(done, total) {
	return total > 0 ? `${Math.min(100, (100 * done) / total).toFixed(0)}%` : '';
}

function setOnline(online) {
	state.online = online;
	const pill = $('#conn');
	pill.textContent = online ? 'live' : 'reconnecting';
	pill.className = `pill ${online ? 'pill-ok' : 'pill-bad'}`;
	$('#offline').hidden = online;
}

// ---- the event stream ----

function connect() {
	const es = new EventSource(`${API}/events`);
	es.onopen = () => {
		setOnline(true);
		for (const v of ['summary', 'members', 'capabilities', 'vnodes', 'decisions', 'audit'])
			state.stale.add(v);
	};
	es.onerror = () => setOnline(false);
	es.onmessage = (m) => onRecord('message', m.data);
	// Named events (the audit event names): one listener per kind we care about.
	for (const name of ['join', 'leave', 'death', 'placement', 'claim', 'move', 'release',
		'define', 'drain_start', 'drain_step', 'drain_done', 'retire', 'admit', 'admit_refused',
		'review', 'policy_refusal', 'migrate_request', 'migrate_refused', 'daemon_start',
		'daemon_stop', 'token_accepted', 'token_refused', 'manifest_reload', 'gap'])
		es.addEventListener(name, (m) => onRecord(name, m.data));
}

function onRecord(name, data) {
	let rec = null;
	try { rec = JSON.parse(data); } catch (e) { return; }
	state.stale.add('audit');
	if (['placement', 'claim', 'move', 'release', 'define', 'migrate_request'].includes(name)) {
		state.stale.add('vnodes');
		state.stale.add('summary');
		state.stale.add('decisions');
	}
	if (MEMBER_EVENTS.has(name)) {
		state.stale.add('members');
		state.stale.add('summary');
		state.stale.add('capabilities');
		state.timeline.push({ name, time: rec.time, subject: rec.subject, details: rec.details });
		if (state.timeline.length > TIMELINE_MAX) state.timeline.shift();
		renderTimeline();
	}
}

// ---- refreshing views ----

// One refresh at a time: a tick that finds the last one still fetching (a large VNode
// table, a slow daemon) leaves what went stale meanwhile to the next tick, rather than
// fetching the same views again alongside it.
async function refresh() {
	if (state.refreshing) return;
	state.refreshing = true;
	const wanted = [...state.stale];
	state.stale.clear();
	for (const v of wanted) {
		try {
			await loaders[v]();
		} catch (e) {
			state.stale.add(v); // try again at the next tick
		}
	}
	state.refreshing = false;
}

const loaders = {
	async summary() {
		state.summary = await get('');
		$('#domain').textContent = state.summary.domain;
		document.title = `PhoenixFlight – ${state.summary.domain}`;
		renderSummary();
	},
	async members() {
		state.members = (await get('/members')).members;
		renderMembers();
		renderVnodeMap();
	},
	async capabilities() {
		const caps = (await get('/capabilities')).capabilities;
		$('#capabilities tbody').replaceChildren(...caps.map((c) =>
			el('tr', {}, el('td', {}, c.index), el('td', {}, c.name), el('td', {}, c.providers))));
	},
	// The map is counts, from the daemon's one pass over the table: never a sample of
	// pages. The list under it is one range's VNodes, a page at a time, and says so.
	async vnodes() {
		const r = state.vrange;
		const q = `?buckets=${mapBuckets()}&from=${r.from}${r.to === null ? '' : `&to=${r.to}`}`;
		state.vmap = await get(`/vnodes/map${q}`);
		renderVnodeMap();
		await loadVnodeList(false);
	},
	async decisions() {
		const list = (await get('/decisions?limit=50')).decisions.slice().reverse();
		$('#decisions tbody').replaceChildren(...list.map((d) => el('tr', {},
			el('td', {}, d.seq), el('td', {}, d.vnode), el('td', {}, d.outcome),
			el('td', {}, d.strategy),
			el('td', {}, d.winner_slot === null ? '–' : `${d.winner_slot}.${d.winner_generation}`),
			el('td', {}, fmt.int(d.epoch)), el('td', {}, d.candidates),
			el('td', {}, `${d.filtered.state} / ${d.filtered.caps} / ${d.filtered.trust} / ` +
				`${d.filtered.policy} / ${d.filtered.full} / ${d.filtered.bound}`),
			el('td', {}, fmt.ratio(d.score)), el('td', {}, fmt.ratio(d.reliability)),
			el('td', {}, fmt.ratio(d.trust)), el('td', {}, fmt.ratio(d.load)),
			el('td', {}, fmt.ratio(d.numa_factor)))));
	},
	async audit() {
		const recs = (await get('/audit?tail=100')).records.slice().reverse();
		$('#audit tbody').replaceChildren(...recs.map((r) => el('tr', {},
			el('td', {}, r.seq), el('td', {}, r.time), el('td', {}, r.event),
			el('td', {}, r.subject), el('td', { class: 'details' }, JSON.stringify(r.details)))));
	},
};

async function refreshMetrics() {
	try {
		const m = await get('/metrics');
		state.metrics = m;
		const w = m.window;
		for (const k of Object.keys(state.series)) {
			const v = k === 'churn' ? w.churn_per_min : w[k];
			state.series[k].push(v);
			if (state.series[k].length > SPARK_POINTS) state.series[k].shift();
		}
		$('#window').textContent = String(m.window_s);
		renderGauges();
		renderSummary();
	} catch (e) {
		// The metrics are optional to the rest of the page: keep the last ones.
	}
}

// ---- rendering ----

function sparkline(values, max) {
	const w = 200, h = 36;
	const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
	svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
	svg.setAttribute('preserveAspectRatio', 'none');
	svg.setAttribute('aria-hidden', 'true');
	const vals = values.filter((v) => typeof v === 'number' && !Number.isNaN(v));
	if (vals.length < 2) return svg;
	const top = max ?? Math.max(...vals, 1e-9);
	const pts = vals.map((v, i) => `${(i / (vals.length - 1)) * w},${h - (v / top) * (h - 2) - 1}`);
	const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
	line.setAttribute('points', pts.join(' '));
	line.setAttribute('fill', 'none');
	line.setAttribute('stroke', '#1f5fbf');
	line.setAttribute('stroke-width', '1.5');
	svg.append(line);
	return svg;
}

function gauge(id, label, value, text, series, max) {
	return el('div', { class: 'card', id },
		el('div', { class: 'label' }, label),
		el('div', { class: 'value', 'data-value': value ?? '' }, text),
		sparkline(series, max));
}

function renderGauges() {
	const w = state.metrics ? state.metrics.window : {};
	$('#gauges').replaceChildren(
		gauge('g-health', 'Health (0–100)', w.health, fmt.num(w.health, 1), state.series.health, 100),
		gauge('g-stability', 'Stability', w.stability, fmt.ratio(w.stability), state.series.stability, 1),
		gauge('g-churn', 'Churn (events/min)', w.churn_per_min, fmt.num(w.churn_per_min, 2),
			state.series.churn),
		gauge('g-availability', 'Availability', w.availability, fmt.ratio(w.availability),
			state.series.availability, 1));
}

function card(label, value) {
	return el('div', { class: 'card' }, el('div', { class: 'label' }, label),
		el('div', { class: 'value' }, value));
}

function renderSummary() {
	const s = state.summary;
	const w = state.metrics ? state.metrics.window : null;
	if (!s) return;
	const cards = [
		card('Members active', `${s.members_active} / ${s.members_max}`),
		card('VNodes active', `${s.vnodes_active}`),
		card('VNodes pending', `${s.vnodes_pending}`),
		card('Membership version', `${s.membership_version}`),
	];
	if (w) {
		cards.push(card('Load balance', fmt.ratio(w.load_balance)));
		cards.push(card('Load std. dev.', fmt.ratio(w.load_stddev)));
		cards.push(card('Rebalancing overhead', fmt.ratio(w.rebalance_overhead)));
		cards.push(card('Recovery p99', w.recovery_p99_s === null ? '–'
			: `${(w.recovery_p99_s * 1000).toFixed(2)} ms`));
	}
	$('#summary').replaceChildren(...cards);
}

function needToken() {
	if (state.token) return true;
	$('#token-dialog').showModal();
	return false;
}

async function memberAction(slot, action) {
	if (!needToken()) return;
	if (!confirm(`${action} member ${slot}? Its VNodes move to other members with their state.`))
		return;
	try {
		await post(`/members/${slot}/${action}`, {});
		state.stale.add('members');
	} catch (e) {
		alert(`${action} member ${slot}: ${e.message}`);
	}
}

function renderMembers() {
	$('#members tbody').replaceChildren(...state.members.map((m) => {
		const live = m.state === 'active';
		return el('tr', { 'data-slot': m.slot },
			el('td', {}, m.slot), el('td', {}, m.generation), el('td', {}, m.state),
			el('td', {}, m.pid), el('td', {}, m.node), el('td', {}, m.vnodes),
			el('td', {}, fmt.ratio(m.trust)), el('td', {}, fmt.ratio(m.reliability)),
			el('td', {}, m.admission), el('td', {}, m.capabilities.join(', ')),
			el('td', {},
				el('button', { type: 'button', disabled: !live, onclick: () => memberAction(m.slot, 'drain') }, 'Drain'),
				' ',
				el('button', { type: 'button', class: 'danger', disabled: !live,
					onclick: () => memberAction(m.slot, 'retire') }, 'Retire')));
	}));
}

function colorOf(slot) {
	return PALETTE[slot % PALETTE.length];
}

const MAP_BUCKETS = 64;
const MAP_CELLS_MAX = 131072; // API_MAP_CELLS_MAX: buckets x (members_max + 2) at most
const LIST_PAGE = 1000;
const count = (n) => Number(n).toLocaleString('en-US');

function mapBuckets() {
	const rows = (state.summary ? state.summary.members_max : 64) + 2;
	return Math.max(1, Math.min(MAP_BUCKETS, Math.floor(MAP_CELLS_MAX / rows)));
}

// Drill into [from, to): the map of that range, and its list from the start.
function drill(from, to) {
	const r = state.vrange;
	r.up.push({ from: r.from, to: r.to });
	r.from = from;
	r.to = to;
	state.vlist.owner = null;
	state.stale.add('vnodes');
	refresh();
}

function drillUp(all) {
	const r = state.vrange;
	const back = all ? { from: 0, to: null } : r.up.pop() || { from: 0, to: null };
	if (all) r.up = [];
	r.from = back.from;
	r.to = back.to;
	state.vlist.owner = null;
	state.stale.add('vnodes');
	refresh();
}

function memberName(slot) {
	const m = state.members.find((x) => x.slot === slot);
	return m ? `member ${slot}.${m.generation} (${m.state}, pid ${m.pid})` : `slot ${slot} (gone)`;
}

function heatCell(n, lo, hi, color, label) {
	const width = hi - lo;
	const alpha = n === 0 ? 0 : 0.15 + 0.85 * Math.min(1, n / width);
	const title = `${label}: ${count(n)} of ids ${count(lo)}–${count(hi - 1)}`;
	return el('td', { class: 'heat', title, 'data-count': n, 'data-from': lo, 'data-to': hi,
		style: n === 0 ? '' : `background:${color};opacity:${alpha.toFixed(2)}`,
		onclick: () => (width > 1 ? drill(lo, hi) : showVnode(lo)) });
}

function heatRow(label, attrs, counts, color, m, onLabel) {
	const cells = counts.map((n, b) => {
		const lo = m.from + b * m.bucket_width;
		return heatCell(n, lo, Math.min(m.to, lo + m.bucket_width), color, label);
	});
	return el('tr', attrs, el('th', { scope: 'row' },
		el('button', { type: 'button', class: 'link', onclick: onLabel }, label)), ...cells);
}

function renderVnodeTotals(m) {
	const t = m.totals;
	const whole = m.from === 0 && m.to === m.vnodes_max;
	const range = whole ? 'the whole table' : `ids ${count(m.from)}–${count(m.to - 1)}`;
	$('#vmap-totals').replaceChildren(
		el('span', { 'data-defined': t.defined, 'data-owned': t.owned, 'data-pending': t.pending,
			'data-remote': t.remote },
			`${count(t.defined)} VNodes in ${range}: ${count(t.owned)} owned ` +
			`(${count(t.active)} active, ${count(t.migrating)} migrating, ` +
			`${count(t.draining)} draining), ${count(t.pending)} pending, ` +
			(t.leaving || t.arriving || t.remote ?
				`${count(t.remote)} on other hosts (${count(t.leaving)} leaving, ` +
				`${count(t.arriving)} arriving), ` : '') +
			`${count(t.unassigned)} ids unused` +
			(t.invalid ? `, ${count(t.invalid)} unreadable` : '') +
			`; ${count(m.buckets)} ranges of ${count(m.bucket_width)} ids.`));
	$('#vmap-up').disabled = whole;
	$('#vmap-all').disabled = whole;
}

function renderVnodeMap() {
	const m = state.vmap;
	if (!m) return;
	renderVnodeTotals(m);
	const rows = m.owners.map((o) => heatRow(
		`${memberName(o.slot)}: ${count(o.vnodes)}` + (o.stale ? ` (${count(o.stale)} stale)` : ''),
		{ class: 'owner', 'data-slot': o.slot, 'data-vnodes': o.vnodes }, o.buckets,
		colorOf(o.slot), m, () => listOwner(o.slot)));
	rows.push(heatRow(`pending: ${count(m.totals.pending)}`,
		{ class: 'pending', 'data-vnodes': m.totals.pending }, m.pending, '#8a8f96', m,
		() => listOwner('pending')));
	$('#vnode-map').replaceChildren(el('table', { class: 'heatmap' }, el('tbody', {}, rows)));
}

// The list of one range's VNodes (of one owner, or pending, when a row was picked):
// GET /vnodes pages with from and to, a page at a time; its header says how many of how
// many it shows.
function listOwner(owner) {
	state.vlist.owner = state.vlist.owner === owner ? null : owner;
	loadVnodeList(false);
}

function listQuery() {
	const m = state.vmap;
	const o = state.vlist.owner;
	const f = o === null ? '' : o === 'pending' ? '&state=pending' : `&owner=${o}`;
	return `?limit=${LIST_PAGE}&from=${m.from}&to=${m.to}${f}`;
}

function listTotal() {
	const m = state.vmap;
	const o = state.vlist.owner;
	if (o === null) return m.totals.defined;
	if (o === 'pending') return m.totals.pending;
	const row = m.owners.find((x) => x.slot === o);
	return row ? row.vnodes : 0;
}

async function loadVnodeList(more) {
	const l = state.vlist;
	if (!state.vmap) return;
	const q = listQuery();
	if (!more || l.key !== q) {
		l.key = q;
		l.items = [];
		l.cursor = null;
	}
	const doc = await get(`/vnodes${q}${l.cursor ? `&cursor=${encodeURIComponent(l.cursor)}` : ''}`);
	if (l.key !== q) return; // the range changed meanwhile
	l.items.push(...doc.vnodes);
	l.cursor = doc.next_cursor;
	l.total = listTotal();
	renderVnodeList();
}

function renderVnodeList() {
	const l = state.vlist;
	const m = state.vmap;
	const whose = l.owner === null ? '' : l.owner === 'pending' ? ' pending'
		: ` of ${memberName(l.owner)}`;
	const all = l.cursor === null;
	const head = all ? `all ${count(l.items.length)} VNodes${whose} in ids ` +
		`${count(m.from)}–${count(m.to - 1)}` : `showing ${count(l.items.length)} of ` +
		`${count(l.total)} VNodes${whose} in ids ${count(m.from)}–${count(m.to - 1)}`;
	$('#vlist-head').textContent = head;
	$('#vlist-more').hidden = all;
	$('#vlist').replaceChildren(...l.items.map((v) => el('button', { type: 'button',
		class: 'vcell', title: `VNode ${v.id} (${v.state}, owner ${v.owner}, epoch ${v.epoch})`,
		style: v.state === 'pending' ? '' : `border-color:${colorOf(v.owner)}`,
		onclick: () => showVnode(v.id) }, v.id)));
}

async function showVnode(id) {
	const box = $('#vnode-detail');
	box.hidden = false;
	try {
		const v = await get(`/vnodes/${id}`);
		box.replaceChildren(
			el('p', {}, el('strong', {}, `VNode ${v.id}`),
				` ${v.state}, owner ${v.owner}, epoch ${v.epoch}, checkpoint ${v.checkpoint_seq}, ` +
				`${v.inbox} waiting, home node ${v.home}` +
				(v.pending_reason ? `, pending: ${v.pending_reason}` : '')),
			el('p', {}, `Lineage (${(v.lineage || []).length} records${v.lineage_omitted ?
				`, ${v.lineage_omitted} older omitted` : ''}):`),
			el('ul', { class: 'events' }, (v.lineage || []).map((r) =>
				el('li', {}, `${r.time} ${r.event} ${JSON.stringify(r.details)}`))));
	} catch (e) {
		box.replaceChildren(el('p', {}, `VNode ${id}: ${e.message}`));
	}
}

function renderTimeline() {
	const svg = $('#timeline');
	const list = state.timeline;
	const w = svg.clientWidth || 800, h = 70;
	svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
	const ns = 'http://www.w3.org/2000/svg';
	const kids = [];
	const axis = document.createElementNS(ns, 'line');
	axis.setAttribute('x1', 10); axis.setAttribute('x2', w - 10);
	axis.setAttribute('y1', h / 2); axis.setAttribute('y2', h / 2);
	axis.setAttribute('stroke', '#c9ccd1');
	kids.push(axis);
	const color = { join: '#1b7f3b', leave: '#5f6368', death: '#b3261e', drain_start: '#a86400',
		drain_done: '#a86400', retire: '#5f6368', admit: '#1f5fbf', admit_refused: '#b3261e',
		review: '#a86400' };
	list.forEach((ev, i) => {
		const c = document.createElementNS(ns, 'circle');
		c.setAttribute('cx', 10 + (i + 0.5) * ((w - 20) / TIMELINE_MAX));
		c.setAttribute('cy', h / 2);
		c.setAttribute('r', 6);
		c.setAttribute('fill', color[ev.name] || '#1d1f21');
		const t = document.createElementNS(ns, 'title');
		t.textContent = `${ev.time} ${ev.name} ${ev.subject}`;
		c.append(t);
		kids.push(c);
	});
	svg.replaceChildren(...kids);
	$('#timeline-list').replaceChildren(...list.slice().reverse().slice(0, 20).map((ev) =>
		el('li', {}, `${ev.time} — ${ev.name} ${ev.subject}`)));
}

async function verifyAudit() {
	const pill = $('#verify');
	pill.textContent = 'verifying…';
	pill.className = 'pill pill-wait';
	try {
		const r = await runJob('/audit/verify', {}, (job) => {
			pill.textContent = job.state === 'queued' ? 'verification queued…'
				: `verifying… ${percent(job.progress.bytes, job.progress.bytes_total)}`;
		});
		pill.textContent = r.ok ? `verified: ${r.records} records, ${r.heads} signed heads`
			: `BROKEN at seq ${r.broken.seq}: ${r.broken.reason}`;
		pill.className = `pill ${r.ok ? 'pill-ok' : 'pill-bad'}`;
	} catch (e) {
		pill.textContent = `cannot verify: ${e.message}`;
		pill.className = 'pill pill-bad';
	}
}

// ---- the simulator ----

// Sizes, duration and seed are the user's; the rates start as the preset's (the answer says
// which it used) until a slider is moved.
const SIM_FIELDS = [
	{ key: 'members', label: 'Members', min: 10, max: 2000, step: 10, value: 1000 },
	{ key: 'vnodes', label: 'VNodes', min: 100, max: 200000, step: 100, value: 100000 },
	{ key: 'duration_s', label: 'Duration (s)', min: 10, max: 3600, step: 10, value: 600 },
	{ key: 'seed', label: 'Seed', min: 1, max: 1000, step: 1, value: 1 },
	{ key: 'join_per_min', label: 'Joins per minute', min: 0, max: 120, step: 0.5, rate: true },
	{ key: 'failure_per_min', label: 'Crashes per minute', min: 0, max: 120, step: 0.5, rate: true },
	{ key: 'retire_per_min', label: 'Retirements per minute', min: 0, max: 120, step: 0.5, rate: true },
	{ key: 'heartbeat_timeout_ms', label: 'Heartbeat timeout (ms)', min: 10, max: 10000, step: 10,
		rate: true },
];
const PRESETS = ['dma', 'distributed', 'cloud-native', 'ai-agents'];
const simTouched = new Set();

function buildSimForm() {
	const form = $('#sim-form');
	const preset = el('select', { id: 'sim-preset', name: 'preset' },
		PRESETS.map((p) => el('option', { value: p }, p)));
	form.append(el('div', { class: 'field' }, el('label', { for: 'sim-preset' }, 'Preset'), preset));
	for (const f of SIM_FIELDS) {
		const out = el('output', { id: `sim-${f.key}-out`, for: `sim-${f.key}` },
			f.rate ? 'preset' : f.value);
		const input = el('input', { type: 'range', id: `sim-${f.key}`, name: f.key, min: f.min,
			max: f.max, step: f.step, value: f.value ?? f.min });
		input.addEventListener('input', () => {
			simTouched.add(f.key);
			out.textContent = input.value;
			scheduleSim();
		});
		form.append(el('div', { class: 'field' },
			el('label', { for: `sim-${f.key}` }, f.label, out), input));
	}
	preset.addEventListener('change', () => {
		for (const f of SIM_FIELDS) if (f.rate) simTouched.delete(f.key);
		scheduleSim();
	});
	form.addEventListener('submit', (e) => { e.preventDefault(); runSim(); });
}

let simTimer = null;
let simSeq = 0;
let simJob = null; // the job of the run shown as running, cancelled when a newer one starts
function scheduleSim() {
	clearTimeout(simTimer);
	simTimer = setTimeout(runSim, 250);
}

// A simulation is a job of the daemon's (it needs the token: it takes the daemon's job worker
// and shared memory); a newer run cancels the one still going, whose answer nobody wants.
async function runSim() {
	const body = { preset: $('#sim-preset').value };
	for (const f of SIM_FIELDS)
		if (!f.rate || simTouched.has(f.key)) body[f.key] = Number($(`#sim-${f.key}`).value);
	if (!needToken()) {
		$('#sim-status').textContent = 'the simulator needs the API token';
		$('#sim-status').dataset.needsToken = '1';
		return;
	}
	delete $('#sim-status').dataset.needsToken;
	const seq = ++simSeq;
	const started = performance.now();
	if (simJob !== null) {
		fetch(`${API}/jobs/${simJob}`, { method: 'DELETE',
			headers: { Authorization: `Bearer ${state.token}` } }).catch(() => {});
		simJob = null;
	}
	$('#sim-status').textContent = 'running…';
	try {
		const r = await runJob('/sim', body, (job) => {
			if (seq !== simSeq) return;
			simJob = job.id;
			$('#sim-status').textContent = job.state === 'queued'
				? `queued (${job.position} ahead)…`
				: `running… ${percent(job.progress.simulated_s, job.progress.duration_s)}`;
		});
		if (seq !== simSeq) return; // a newer run was asked for meanwhile
		simJob = null;
		const ms = performance.now() - started;
		for (const f of SIM_FIELDS) {
			if (!f.rate || simTouched.has(f.key)) continue;
			$(`#sim-${f.key}`).value = String(r.options[f.key]);
			$(`#sim-${f.key}-out`).textContent = `${r.options[f.key]} (preset)`;
		}
		$('#sim-status').textContent = `simulated ${r.options.duration_s} s of ` +
			`${r.options.members} members and ${r.options.vnodes} VNodes ` +
			`(${r.options.strategy}) in ${ms.toFixed(0)} ms`;
		$('#sim-status').dataset.done = String(seq);
		drawSim(r);
	} catch (e) {
		if (seq === simSeq) $('#sim-status').textContent = `simulation refused: ${e.message}`;
	}
}

function drawSim(r) {
	const s = r.summary || {};
	$('#sim-summary').replaceChildren(
		card('Health (whole run)', fmt.num(s.health, 1)), card('Stability', fmt.ratio(s.stability)),
		card('Availability', fmt.ratio(s.availability)),
		card('Churn (events/min)', fmt.num(s.churn_per_min, 2)),
		card('Crashes / joins / retirements', `${s.failures} / ${s.joins} / ${s.retirements}`),
		card('Recovery p99', s.total && s.total.recovery_p99_s !== null
			? `${(s.total.recovery_p99_s * 1000).toFixed(0)} ms` : '–'));
	const svg = $('#sim-chart');
	const pts = r.series || [];
	const w = svg.clientWidth || 900, h = 300, pad = 36;
	const ns = 'http://www.w3.org/2000/svg';
	svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
	const kids = [];
	const tmax = pts.length ? pts[pts.length - 1].t : 1;
	const lines = [
		{ key: 'health', color: '#1f5fbf', scale: 100, label: 'health / 100' },
		{ key: 'stability', color: '#2ca02c', scale: 1, label: 'stability' },
		{ key: 'availability', color: '#9467bd', scale: 1, label: 'availability' },
	];
	const churnMax = Math.max(1e-9, ...pts.map((p) => p.churn_per_min || 0));
	lines.push({ key: 'churn_per_min', color: '#d62728', scale: churnMax,
		label: `churn / ${churnMax.toFixed(1)} per min` });
	const X = (t) => pad + (t / (tmax || 1)) * (w - 2 * pad);
	const Y = (v) => h - pad - v * (h - 2 * pad);
	for (const [i, frac] of [0, 0.5, 1].entries()) {
		const g = document.createElementNS(ns, 'line');
		g.setAttribute('x1', pad); g.setAttribute('x2', w - pad);
		g.setAttribute('y1', Y(frac)); g.setAttribute('y2', Y(frac));
		g.setAttribute('stroke', i === 0 ? '#5f6368' : '#e1e3e6');
		kids.push(g);
	}
	lines.forEach((l, i) => {
		const pl = document.createElementNS(ns, 'polyline');
		pl.setAttribute('points', pts.map((p) =>
			`${X(p.t)},${Y(Math.max(0, Math.min(1, (p[l.key] || 0) / l.scale)))}`).join(' '));
		pl.setAttribute('fill', 'none');
		pl.setAttribute('stroke', l.color);
		pl.setAttribute('stroke-width', '2');
		pl.setAttribute('data-series', l.key);
		kids.push(pl);
		const tx = document.createElementNS(ns, 'text');
		tx.setAttribute('x', pad + i * 190);
		tx.setAttribute('y', 16);
		tx.setAttribute('fill', l.color);
		tx.setAttribute('font-size', '12');
		tx.textContent = l.label;
		kids.push(tx);
	});
	const xl = document.createElementNS(ns, 'text');
	xl.setAttribute('x', w - pad); xl.setAttribute('y', h - 8);
	xl.setAttribute('text-anchor', 'end'); xl.setAttribute('font-size', '12');
	xl.textContent = `${tmax.toFixed(0)} s`;
	kids.push(xl);
	svg.replaceChildren(...kids);
}

// ---- tabs, keyboard, token ----

function selectTab(tab, focus) {
	for (const t of document.querySelectorAll('[role="tab"]')) {
		const on = t === tab;
		t.setAttribute('aria-selected', String(on));
		t.tabIndex = on ? 0 : -1;
		document.getElementById(t.getAttribute('aria-controls')).hidden = !on;
	}
	if (focus) tab.focus();
	if (tab.id === 'tab-audit' && $('#verify').textContent === 'not verified yet') verifyAudit();
	if (tab.id === 'tab-simulator' && !$('#sim-status').textContent) runSim();
	history.replaceState(null, '', `#${tab.id.slice(4)}`);
}

function setUpTabs() {
	const tabs = [...document.querySelectorAll('[role="tab"]')];
	for (const t of tabs) t.addEventListener('click', () => selectTab(t, false));
	$('#tabs').addEventListener('keydown', (e) => {
		const i = tabs.indexOf(document.activeElement);
		if (i < 0) return;
		let j = null;
		if (e.key === 'ArrowRight') j = (i + 1) % tabs.length;
		if (e.key === 'ArrowLeft') j = (i + tabs.length - 1) % tabs.length;
		if (e.key === 'Home') j = 0;
		if (e.key === 'End') j = tabs.length - 1;
		if (j !== null) { e.preventDefault(); selectTab(tabs[j], true); }
	});
	const start = document.getElementById(`tab-${location.hash.slice(1)}`);
	if (start) selectTab(start, false);
}

function setUpToken() {
	$('#token-btn').addEventListener('click', () => $('#token-dialog').showModal());
	$('#token-dialog').addEventListener('close', () => {
		if ($('#token-dialog').returnValue !== 'ok') return;
		state.token = $('#token-input').value.trim();
		sessionStorage.setItem('pflight-token', state.token);
		if ($('#sim-status').dataset.needsToken) runSim(); // what asked for it
	});
}

function main() {
	setUpTabs();
	setUpToken();
	buildSimForm();
	renderGauges();
	$('#vnode-search').addEventListener('submit', (e) => {
		e.preventDefault();
		const id = $('#vnode-id').value;
		if (id !== '') showVnode(Number(id));
	});
	$('#verify-btn').addEventListener('click', verifyAudit);
	$('#vmap-up').addEventListener('click', () => drillUp(false));
	$('#vmap-all').addEventListener('click', () => drillUp(true));
	$('#vlist-more').addEventListener('click', () => loadVnodeList(true));
	connect();
	setInterval(refresh, REFRESH_MS);
	setInterval(refreshMetrics, METRICS_MS);
	refresh();
	refreshMetrics();
}

main();
