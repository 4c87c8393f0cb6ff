/* SPDX-License-Identifier: MIT */
/**
 * @file xio.h
 * Public native API of X-IO.
 *
 * Programs do not need this header: under libxio_preload.so (or xio-run)
 * ordinary socket calls are carried over shared memory when the peer is
 * local and also under X-IO. This header lets a program ask what X-IO does
 * with its sockets. The zero-copy primitives of the X-IO paper
 * (xio_malloc/xio_tx/xio_rx) are not part of this version yet.
 *
 * Every function is exported by libxio_preload.so with default visibility;
 * link against it or look the symbols up with dlsym() to stay optional.
 */
#ifndef XIO_H
#define XIO_H

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Version of the X-IO library in use.
 * @return a static string such as "0.1.0".
 */
const char *xio_version(void);

/**
 * Tell whether @p fd is carried by X-IO.
 * @param fd a file descriptor of the calling process.
 * @return 1 for an X-IO connection, 2 for a listening socket that also
 *         accepts X-IO connections, 0 for anything the kernel carries alone.
 */
int xio_fd_kind(int fd);

#ifdef __cplusplus
}
#endif

#endif
