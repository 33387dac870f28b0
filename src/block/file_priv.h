/* State shared by the file driver's pieces (I/O, locks, io_uring). */
#ifndef QUAIL_BLOCK_FILE_PRIV_H
#define QUAIL_BLOCK_FILE_PRIV_H

#include "block/node.h"

typedef struct FileUring FileUring;

typedef struct FileState {
    int fd;
    bool want_uring;
    bool locking;
    bool no_flush;
    bool direct;                          /* O_DIRECT: 4 KiB alignment, bounce otherwise */
    pthread_rwlock_t rmw_lock;            /* bounce read-modify-writes exclude other I/O */
    unsigned locked_perm, locked_shared;  /* what our lock bytes currently say */
    FileUring *uring;                     /* NULL: worker pool */
} FileState;

/* True if the request can go to the kernel as is (O_DIRECT alignment). */
bool file_aligned(FileState *s, uint64_t off, const struct iovec *iov, int niov);
int file_rw_sync(FileState *s, bool write, uint64_t off, struct iovec *iov, int niov);
int file_set_perm(BlockNode *bs, unsigned perm, unsigned shared);
void file_uring_init(BlockNode *bs);
void file_uring_cleanup(BlockNode *bs);
int file_aio_submit(BlockNode *bs, BlockAIO *req);
/* True when the node's asynchronous requests go through io_uring. */
bool file_uses_uring(BlockNode *bs);

#endif
