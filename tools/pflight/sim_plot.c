/* SPDX-License-Identifier: MIT */
/*
 * tools/pflight/sim_plot.c: the SVG chart of `pflight sim --plot FILE`, written by hand.
 *
 * One plot area: time on the x axis; health (as a fraction of 100), stability and
 * availability against the left axis (0 to 1); churn per minute against the right axis
 * (0 to the largest value, rounded up). Ticks and labels on three axes, a legend, a title.
 * Long runs are thinned to at most PLOT_LINE_MAX points per line (every k-th, and the
 * last). Numbers are printed with fixed formats, so the same series gives the same file.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define SVG_W 960
#define SVG_H 520
#define PAD_L 70
#define PAD_R 80
#define PAD_T 56
#define PAD_B 64
#define PLOT_LINE_MAX 2000u
#define TICKS 5

struct frame {
	double t_max;
	double churn_max;
};

static double px(const struct frame *fr, double t)
{
	return PAD_L + (fr->t_max > 0 ? t / fr->t_max : 0) * (SVG_W - PAD_L - PAD_R);
}

static double py(double v)
{
	return PAD_T + (1.0 - fmin(1.0, fmax(0.0, v))) * (SVG_H - PAD_T - PAD_B);
}

/* 1, 2 or 5 times a power of ten, at least v: a round top for the churn axis. */
static double nice_ceil(double v)
{
	double p;

	if (v <= 0)
		return 1;
	p = pow(10, floor(log10(v)));
	return v <= p ? p : v <= 2 * p ? 2 * p : v <= 5 * p ? 5 * p : 10 * p;
}

static void text_escaped(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else
			fputc(*s, f);
	}
}

static void axes(FILE *f, const struct frame *fr)
{
	fprintf(f,
		"<g stroke=\"#444\" stroke-width=\"1\" fill=\"none\">\n"
		"<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n"
		"<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n"
		"<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n</g>\n",
		PAD_L, SVG_H - PAD_B, SVG_W - PAD_R, SVG_H - PAD_B, PAD_L, PAD_T, PAD_L,
		SVG_H - PAD_B, SVG_W - PAD_R, PAD_T, SVG_W - PAD_R, SVG_H - PAD_B);
	fprintf(f, "<g font-family=\"sans-serif\" font-size=\"12\" fill=\"#222\">\n");
	for (int i = 0; i <= TICKS; i++) {
		double v = (double)i / TICKS, y = py(v), x = px(fr, v * fr->t_max);

		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
			PAD_L, y, SVG_W - PAD_R, y);
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>\n", PAD_L - 8,
			y + 4, v);
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"start\">%.4g</text>\n",
			SVG_W - PAD_R + 8, y + 4, v * fr->churn_max);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#444\"/>\n",
			x, SVG_H - PAD_B, x, SVG_H - PAD_B + 5);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.4g</text>\n", x,
			SVG_H - PAD_B + 20, v * fr->t_max);
	}
	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">simulated time (s)</text>\n",
		(SVG_W + PAD_L - PAD_R) / 2, SVG_H - 18);
	fprintf(f,
		"<text x=\"18\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 18 %d)\">"
		"ratio (health / 100)</text>\n",
		SVG_H / 2, SVG_H / 2);
	fprintf(f,
		"<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(90 %d %d)\">"
		"churn (events / min)</text>\n</g>\n",
		SVG_W - 20, SVG_H / 2, SVG_W - 20, SVG_H / 2);
}

/* One series as a polyline: which = 0 health, 1 stability, 2 availability, 3 churn. */
static void line(FILE *f, const struct frame *fr, const struct plot_pt *pts, size_t n, int which,
		 const char *colour, const char *dash)
{
	size_t step = n > PLOT_LINE_MAX ? (n + PLOT_LINE_MAX - 1) / PLOT_LINE_MAX : 1;

	fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s points=\"", colour,
		dash);
	for (size_t i = 0; i < n; i += step) {
		const struct plot_pt *p = &pts[i];
		double v = which == 0   ? p->health / 100
			   : which == 1 ? p->stability
			   : which == 2 ? p->availability
					: p->churn / fr->churn_max;

		fprintf(f, "%s%.1f,%.1f", i ? " " : "", px(fr, p->t), py(v));
		if (i + step >= n && i != n - 1)
			i = n - 1 - step; /* the last point is always drawn */
	}
	fprintf(f, "\"/>\n");
}

static void legend(FILE *f)
{
	static const char *const names[] = {"health / 100", "stability", "availability",
					    "churn (right axis)"};
	static const char *const colours[] = {"#d62728", "#1f77b4", "#2ca02c", "#7f7f7f"};

	fprintf(f, "<g font-family=\"sans-serif\" font-size=\"12\" fill=\"#222\">\n");
	for (int i = 0; i < 4; i++) {
		int x = PAD_L + 10 + i * 170;

		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"18\" height=\"4\" fill=\"%s\"/>\n", x,
			PAD_T - 20, colours[i]);
		fprintf(f, "<text x=\"%d\" y=\"%d\">%s</text>\n", x + 24, PAD_T - 14, names[i]);
	}
	fprintf(f, "</g>\n");
}

int sim_plot_write(const char *path, const char *title, const struct plot_pt *pts, size_t n)
{
	struct frame fr = {0, 0};
	FILE *f = fopen(path, "w");
	int r = 0;

	if (f == NULL)
		return -errno;
	for (size_t i = 0; i < n; i++) {
		fr.t_max = fmax(fr.t_max, pts[i].t);
		fr.churn_max = fmax(fr.churn_max, pts[i].churn);
	}
	fr.churn_max = nice_ceil(fr.churn_max);
	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\">\n<title>",
		SVG_W, SVG_H, SVG_W, SVG_H);
	text_escaped(f, title);
	fprintf(f,
		"</title>\n<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n"
		"<text x=\"%d\" y=\"22\" font-family=\"sans-serif\" font-size=\"15\">",
		SVG_W, SVG_H, PAD_L);
	text_escaped(f, title);
	fprintf(f, "</text>\n");
	axes(f, &fr);
	line(f, &fr, pts, n, 3, "#7f7f7f", " stroke-dasharray=\"4 3\"");
	line(f, &fr, pts, n, 2, "#2ca02c", "");
	line(f, &fr, pts, n, 1, "#1f77b4", "");
	line(f, &fr, pts, n, 0, "#d62728", "");
	legend(f);
	fprintf(f, "</svg>\n");
	if (ferror(f))
		r = -EIO;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}
