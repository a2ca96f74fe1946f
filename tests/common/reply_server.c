/* SPDX-License-Identifier: MIT */
/* tests/common/reply_server.c: a canned control socket (reply_server.h). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/common/reply_server.h"

int reply_server_listen(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
		int r = -errno;

		(void)close(fd);
		return r;
	}
	return fd;
}

static void *serve(void *arg)
{
	struct reply_server *sv = arg;

	for (size_t i = 0; i < sv->count; i++) {
		int c = accept(sv->fd, NULL, NULL);
		char byte;
		ssize_t n;

		if (c < 0)
			return NULL;
		n = recv(c, sv->got[i], sizeof(sv->got[i]) - 1, 0);
		sv->got[i][n > 0 ? n : 0] = '\0';
		if (sv->replies[i] != NULL)
			(void)send(c, sv->replies[i], strlen(sv->replies[i]), MSG_NOSIGNAL);
		else
			(void)recv(c, &byte, 1, 0); /* until the client gives up */
		(void)close(c);
	}
	return NULL;
}

int reply_server_start(struct reply_server *sv, const char *path, const char *const *replies,
		       size_t count)
{
	int r;

	if (count > REPLY_SERVER_MAX)
		return -E2BIG;
	memset(sv, 0, sizeof(*sv));
	sv->replies = replies;
	sv->count = count;
	sv->fd = reply_server_listen(path);
	if (sv->fd < 0)
		return sv->fd;
	r = pthread_create(&sv->thread, NULL, serve, sv);
	if (r != 0) {
		(void)close(sv->fd);
		return -r;
	}
	return 0;
}

int reply_server_join(struct reply_server *sv)
{
	int r = pthread_join(sv->thread, NULL);

	(void)close(sv->fd);
	return -r;
}

/* The squatter's child: listen as uid, count what one client sends, report it. */
static void squat(const char *path, uint32_t uid, int report)
{
	char buf[256];
	ssize_t n, got = 0;
	int fd, c;

	(void)alarm(60); /* whatever the test does, this child does not outlive it long */
	if (geteuid() == 0 && (setgid((gid_t)uid) < 0 || setuid((uid_t)uid) < 0))
		_exit(10);
	fd = reply_server_listen(path);
	if (fd < 0 || write(report, "l", 1) != 1)
		_exit(11);
	c = accept(fd, NULL, NULL);
	if (c < 0)
		_exit(12);
	while ((n = recv(c, buf, sizeof(buf), 0)) > 0) {
		got += n;
		(void)send(c, "{\"ok\":true}", 11, MSG_NOSIGNAL); /* keep a client talking */
	}
	if (write(report, &got, sizeof(got)) != (ssize_t)sizeof(got))
		_exit(13);
	_exit(0);
}

int squatter_start(struct squatter *sq, const char *path, uint32_t uid)
{
	int p[2];
	char ready;

	if (pipe(p) < 0)
		return -errno;
	sq->pid = fork();
	if (sq->pid < 0) {
		(void)close(p[0]);
		(void)close(p[1]);
		return -errno;
	}
	if (sq->pid == 0) {
		(void)close(p[0]);
		squat(path, uid, p[1]);
	}
	(void)close(p[1]);
	sq->fd = p[0];
	if (read(sq->fd, &ready, 1) != 1) {
		(void)squatter_join(sq);
		return -ECHILD;
	}
	return 0;
}

int squatter_join(struct squatter *sq)
{
	ssize_t got = 0;
	int status = 0;
	ssize_t n = read(sq->fd, &got, sizeof(got));

	(void)close(sq->fd);
	if (waitpid(sq->pid, &status, 0) != sq->pid)
		return -errno;
	if (n != (ssize_t)sizeof(got) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -ECHILD;
	return (int)got;
}
