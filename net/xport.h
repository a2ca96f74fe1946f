/* SPDX-License-Identifier: MIT */
/*
 * net/xport.h: what the transport's backends share (pflight/xport.h is their contract):
 * option checking, and the backends' tables for pf_xport_find().
 */
#ifndef PF_NET_XPORT_H
#define PF_NET_XPORT_H

#include "pflight/xport.h"

/*
 * Resolve a caller's options (NULL: defaults; shorter, older structs keep the defaults
 * of the fields they lack) into out and check every field's range. 0 or -EINVAL.
 */
int xport_opts_resolve(const struct pf_xport_opts *in, struct pf_xport_opts *out);

/* The io_uring TCP backend (net/xport_uring.c). */
extern const struct pf_xport_ops xport_uring_ops;

#endif /* PF_NET_XPORT_H */
