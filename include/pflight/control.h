/* SPDX-License-Identifier: MIT */
/*
 * pflight/control.h: talking to a host's pflightd over its control socket.
 *
 * The daemon listens on an AF_UNIX SOCK_SEQPACKET socket; each connection carries one
 * request and one reply, both single messages: the request a line of text ("status",
 * "join-token <token>", "migrate <vnode> <slot>"), the reply a JSON object with "ok"
 * true or false and, when false, "error" (a short word) and often "reason" (a sentence).
 * The daemon identifies the client with SO_PEERCRED; what it allows depends on the uid.
 *
 * The client identifies the daemon the same way, before it sends anything: whoever binds
 * a path first listens there, and a request may carry a join token. The daemon of a
 * domain runs as root or as the uid that owns the domain's segment (pflightd adopts no
 * other segment), so that is the uid a client expects: pf_domain_info()'s segment_uid of
 * the domain it has open (a worker opens it before it presents a token and joins), passed
 * as daemon_uid; root is always accepted. A listener of any other uid is refused with
 * -EPERM and is sent nothing.
 *
 * Where the socket is (pf_control_path): $PFLIGHT_CONTROL when set; otherwise the daemon
 * binds <dir>/<domain>.sock in $RUNTIME_DIRECTORY (systemd's RuntimeDirectory=), else
 * /run/pflight/<domain>.sock when it runs as root, else
 * $XDG_RUNTIME_DIR/pflight-<domain>.sock, else /tmp/pflight-<uid>-<domain>.sock; a client
 * takes the first of /run/pflight/<domain>.sock, $XDG_RUNTIME_DIR/pflight-<domain>.sock
 * and /tmp/pflight-<uid>-<domain>.sock that exists (the first of them when none does).
 *
 * Join tokens: a worker presents its token on this socket before pf_member_join(), with
 * pf_control_present() of pflight/token.h (libpflight-ctl, which reads the daemon's JSON
 * answer); the daemon, which gates every join while it runs (pflight/policy.h), then
 * admits the process that presented it with the trust and the capabilities the token
 * grants. A grant is for the presenting process only and lapses when the process does
 * not join within a few seconds. A worker without a token needs only this header and
 * libpflight.
 *
 * Thread safety: every function is reentrant. None logs.
 */
#ifndef PFLIGHT_CONTROL_H
#define PFLIGHT_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "pflight/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PF_CONTROL_PATH_MAX 108u            /* sun_path, with the NUL */
#define PF_CONTROL_REPLY_MAX 4096u          /* bytes of one reply */
#define PF_CONTROL_TIMEOUT_MS_DEFAULT 5000u /* a running daemon answers in milliseconds */

#define PF_CONTROL_PATH_SERVER 0x1u /* pf_control_path(): where the daemon binds */

/*
 * The control socket path for `domain` (see the top of this file), NUL-terminated into
 * buf (cap bytes). Returns its length, or -EINVAL (bad domain name or flags, NULL),
 * -ENAMETOOLONG (longer than cap or than a socket path may be).
 */
PF_API int pf_control_path(const char *domain, uint32_t flags, char *buf, size_t cap);

/*
 * Send one request to the daemon at path, which must run as root or as daemon_uid (see
 * the top of this file: the owner of the domain's segment), and wait (at most timeout_ms,
 * 0: the default) for its reply, NUL-terminated into reply (cap bytes). Returns the
 * reply's length, or:
 *   -ENOENT, -ECONNREFUSED  no daemon listens there
 *   -EPERM                  what listens there runs as neither root nor daemon_uid: not
 *                           the daemon; nothing was sent
 *   -EACCES                 the socket's permissions refuse this process
 *   -ETIMEDOUT              no reply in time
 *   -EMSGSIZE               the request is over PF_CONTROL_REPLY_MAX bytes, or the reply
 *                           did not fit cap
 *   -EINVAL                 NULL or empty arguments, a request with a newline inside
 *   -ENAMETOOLONG           path too long
 * Blocking; any thread.
 */
PF_API int pf_control_request(const char *path, uint32_t daemon_uid, const char *request,
			      char *reply, size_t cap, uint32_t timeout_ms);

/*
 * pf_control_request(), handing the daemon an open file descriptor with the request
 * (SCM_RIGHTS; pass_fd -1: none). For requests that read or write a file the caller
 * opened with its own rights (pflight export and import): the daemon never opens a path a
 * client names. The caller keeps its own pass_fd (the daemon gets a duplicate). Same
 * returns, and -EINVAL for pass_fd < -1, -EBADF for a pass_fd that is not open.
 */
PF_API int pf_control_request_fd(const char *path, uint32_t daemon_uid, const char *request,
				 int pass_fd, char *reply, size_t cap, uint32_t timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* PFLIGHT_CONTROL_H */
