/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/replay.c
 * Goal: a libFuzzer target's committed corpus runs in every build, without libFuzzer.
 * Method: main() reads every file of the folders (or files) named on the command line and
 * hands each to LLVMFuzzerTestOneInput(), as libFuzzer does when it replays a corpus
 * (`fuzz_x -runs=0 DIR`). A crash or an abort() in the target fails the test; an empty
 * corpus fails too, so that a moved folder cannot pass by replaying nothing.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		if (f != NULL)
			fclose(f);
		return -1;
	}
	buf = malloc((size_t)len + 1);
	if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned files = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *e;

		if (stat(argv[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
			if (replay_file(argv[i]) < 0)
				return 1;
			files++;
			continue;
		}
		d = opendir(argv[i]);
		while (d != NULL && (e = readdir(d)) != NULL) {
			char path[4096];

			if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			if (replay_file(path) < 0)
				return 1;
			files++;
		}
		if (d != NULL)
			closedir(d);
	}
	printf("replayed %u inputs\n", files);
	return files > 0 ? 0 : 1;
}
