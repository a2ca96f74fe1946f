/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/phoenixfile_doc.c: print the PhoenixFile reference (docs/phoenixfile.md)
 * from the schema the parser itself uses (pf_manifest_schema()), so the docs cannot drift.
 *
 *   phoenixfile-doc                print the reference
 *   phoenixfile-doc --write FILE   write it to FILE
 *   phoenixfile-doc --check FILE   exit 1 when FILE differs (the lint suite runs this)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pflight/manifest.h"

static const char intro[] =
	"# PhoenixFile reference\n"
	"\n"
	"<!-- Generated from the schema in ctl/manifest.c by tools/pflightd/phoenixfile_doc.c."
	" Do not edit: run `ninja -C build phoenixfile-doc`. -->\n"
	"\n"
	"pflightd starts from a PhoenixFile: one YAML document (a mapping) with `apiVersion`,"
	" `kind` and the sections below. Every field is optional except `apiVersion`, `kind`"
	" and those marked required in an entry of a list (a peer's name, address and key),"
	" and takes the default shown when absent; with no manifest at all the daemon"
	" and `pf_manifest_defaults()` use every default (an embedded, single-host domain)."
	" A full example with a comment per field is `tools/pflightd/phoenixfile.example.yaml`,"
	" installed beside this file (`share/doc/pflight/phoenixfile.example.yaml`); the systemd"
	" unit starts pflightd from `SYSCONFDIR/pflight/phoenixfile.yaml`.\n"
	"\n"
	"A manifest is refused as a whole, with the file, line, column and reason, for an"
	" unknown field, a value of the wrong type, a value out of range, a duplicate key,"
	" a missing or wrong `apiVersion` or `kind`, an `api.listen` address off loopback"
	" without `api.allow_remote: true`, a peer listed twice (by name or by key) or named"
	" as this host (`transport.name`), collections nested more than 64 levels deep"
	" (`PF_MANIFEST_DEPTH_MAX`; the schema itself needs 6), more than 256 YAML anchors"
	" (`PF_MANIFEST_ANCHORS_MAX`), a file over 1 MiB, or invalid YAML; nothing of a refused"
	" manifest is applied.\n"
	"\n"
	"Reload: on SIGHUP pflightd reads the manifest again and applies the fields marked"
	" *yes*; a change to any other field is refused (`pf_manifest_reload_check()`) and"
	" needs a restart, because those fields size or name the shared-memory segment.\n"
	"\n"
	"Who is trusted: workers and `pflight` talk on the control socket only to a daemon that"
	" runs as root or as the uid that owns the domain's segment (`pf_domain_info()`'s"
	" `segment_uid`; `pflight/control.h`), and send nothing, a join token least of all, to"
	" a listener of any other uid; pflightd adopts no segment of another uid. Run pflightd"
	" as root or as the user the segment is to belong to. The files pflightd keeps"
	" (`governance.audit.path`, `governance.credentials.signing_key_path`,"
	" `api.token_path`) must be its own: no symbolic link, owned by its uid or root, not"
	" writable (the key and the token not readable) by group or others, in a directory"
	" group and others may not write to (`pflight/audit.h`).\n"
	"\n"
	"## Value types\n"
	"\n"
	"| type | written as |\n"
	"|---|---|\n"
	"| duration | a number with a unit: `ns`, `us`, `ms`, `s`, `m`, `h` (`50ms`, `1.5s`,"
	" `2m`); `0` alone |\n"
	"| size | bytes, or a number with `B`, `KiB`, `MiB`, `GiB`, `TiB`, `kB`, `MB`, `GB`"
	" (`240`, `4KiB`, `64MiB`) |\n"
	"| fraction | a decimal (`0.25`) or a percentage (`25%`), kept in parts per million;"
	" finer than 1 ppm is refused |\n"
	"| mode | octal permission bits (`0660`) |\n"
	"| bool | `true` or `false` |\n"
	"| enum | one of the names listed |\n"
	"\n"
	"Values are exact: a number finer than the unit it is stored in (`0.5ns`) is refused,"
	" not rounded.\n";

static void table_head(FILE *out)
{
	fputs("| field | type | default | accepted | reload | description |\n", out);
	fputs("|---|---|---|---|---|---|\n", out);
}

static void row(FILE *out, const struct pf_manifest_field *f)
{
	const char *def = f->default_text;

	if (f->type == PF_MANIFEST_SECTION) {
		fprintf(out, "| `%s` | section | | | | %s |\n", f->path, f->doc);
		return;
	}
	if (f->required && *def == '\0') {
		fprintf(out, "| `%s` | %s | (required) | %s | %s | %s |\n", f->path, f->type_name,
			f->range, f->reloadable ? "yes" : "no", f->doc);
		return;
	}
	fprintf(out, "| `%s` | %s | %s%s%s%s | %s | %s | %s |\n", f->path, f->type_name,
		*def != '\0' ? "`" : "", *def != '\0' ? def : "\"\"", *def != '\0' ? "`" : "",
		f->required ? " (required)" : "", f->range, f->reloadable ? "yes" : "no", f->doc);
}

/* A section heading and its table: top-level sections ("api") and the entries of object
 * lists ("transport.peers[]", listed after the sections) get one; nested sections are a
 * row of their parent's table. */
static bool heading(FILE *out, const struct pf_manifest_field *f)
{
	if (f->type != PF_MANIFEST_SECTION)
		return false;
	if (strchr(f->path, '.') == NULL)
		fprintf(out, "\n### %s\n\n%s\n\n", f->path, f->doc);
	else if (strstr(f->path, "[]") != NULL)
		fprintf(out, "\n### Each entry of `%s`\n\n%s\n\n", f->path, f->doc);
	else
		return false;
	table_head(out);
	return true;
}

static int generate(FILE *out)
{
	struct pf_manifest_field f = {.size = sizeof(f)};
	int r;

	fputs(intro, out);
	fputs("\n## Fields\n\n", out);
	table_head(out);
	for (uint32_t i = 0; (r = pf_manifest_schema(i, &f)) == 0; i++) {
		if (!heading(out, &f))
			row(out, &f);
		f.size = sizeof(f);
	}
	return r == -ENOENT ? 0 : r;
}

/* The whole file, NUL-terminated, or NULL. */
static char *slurp(FILE *in, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;

	if (mem == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
		fwrite(chunk, 1, n, mem);
	if (fclose(mem) != 0) {
		free(buf);
		return NULL;
	}
	*ret_len = len;
	return buf;
}

static int check(const char *path)
{
	char *want = NULL, *have;
	size_t want_len = 0, have_len = 0;
	FILE *mem = open_memstream(&want, &want_len);
	FILE *in = fopen(path, "r");
	int same;

	if (mem == NULL || generate(mem) != 0 || fclose(mem) != 0 || in == NULL) {
		fprintf(stderr, "phoenixfile-doc: cannot read %s or generate the reference\n",
			path);
		return 1;
	}
	have = slurp(in, &have_len);
	fclose(in);
	same = have != NULL && have_len == want_len && memcmp(have, want, want_len) == 0;
	if (!same)
		fprintf(stderr,
			"%s:1: differs from the schema in ctl/manifest.c; regenerate it with"
			" `ninja -C build phoenixfile-doc`\n",
			path);
	free(have);
	free(want);
	return same ? 0 : 1;
}

int main(int argc, char **argv)
{
	FILE *out;
	int r;

	if (argc == 3 && strcmp(argv[1], "--check") == 0)
		return check(argv[2]);
	if (argc == 3 && strcmp(argv[1], "--write") == 0) {
		out = fopen(argv[2], "w");
		if (out == NULL) {
			perror(argv[2]);
			return 1;
		}
		r = generate(out);
		return fclose(out) != 0 || r != 0;
	}
	if (argc != 1) {
		fprintf(stderr, "usage: %s [--check FILE | --write FILE]\n", argv[0]);
		return 2;
	}
	return generate(stdout) != 0;
}
