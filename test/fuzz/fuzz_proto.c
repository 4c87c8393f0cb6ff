/* SPDX-License-Identifier: MIT */
/*
 * Message validation on arbitrary bytes: xio_msg_check() for every message
 * type and minimum length the code uses, and xio_offer_check() on whatever
 * passes as an offer. Nothing may read past the input (ASan), and an
 * accepted message must really be what was asked for.
 */
#include <stdio.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct {
		uint16_t type;
		size_t min;
	} kinds[] = {
	    {XIO_CTL_HELLO, sizeof(struct xio_msg_hdr)},
	    {XIO_CTL_PUBLISH, sizeof(struct xio_ctl_publish)},
	    {XIO_CTL_STATS, sizeof(struct xio_msg_hdr)},
	    {XIO_CTL_KILL, sizeof(struct xio_msg_hdr) + 4},
	    {XIO_CTL_REPLY, sizeof(struct xio_ctl_hello_reply)},
	    {XIO_CTL_REPLY, sizeof(struct xio_ctl_stats)},
	    {XIO_CTL_REPLY, sizeof(struct xio_ctl_publish_reply)},
	    {XIO_HS_OFFER, sizeof(struct xio_hs_offer)},
	};
	/* an exact-size heap copy: any read past it is an ASan report */
	uint8_t *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		int r = xio_msg_check(buf, size, kinds[k].type, kinds[k].min);
		if (r == 0) {
			struct xio_msg_hdr h;
			memcpy(&h, buf, sizeof(h));
			FZ_CHECK(size >= kinds[k].min && h.len == size && h.type == kinds[k].type &&
				 h.magic == XIO_PROTO_MAGIC && h.version == XIO_PROTO_VERSION);
		} else {
			FZ_CHECK(r == -ENODATA || r == -EPROTO || r == -EPROTONOSUPPORT ||
				 r == -EMSGSIZE);
		}
	}
	if (size >= sizeof(struct xio_hs_offer)) {
		struct xio_hs_offer o;
		memcpy(&o, buf, sizeof(o));
		uint32_t nslots = size > sizeof(o) ? buf[sizeof(o)] + 1u : 512u;
		int r = xio_offer_check(&o, 0x1122334455667788ull, nslots);
		if (r == 0)
			FZ_CHECK(o.slot < nslots && o.layout_version == XIO_LAYOUT_VERSION &&
				 o.generation == 0x1122334455667788ull);
	}
	free(buf);
	return 0;
}
