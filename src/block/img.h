/* `quail img`: image tool commands (qemu-img compatible where it matters). */
#ifndef QUAIL_BLOCK_IMG_H
#define QUAIL_BLOCK_IMG_H

#include "block/node.h"

#include <stdio.h>

int img_create_main(int argc, char **argv);
int img_info_main(int argc, char **argv);
int img_check_main(int argc, char **argv);
int img_convert_main(int argc, char **argv);
int img_map_main(int argc, char **argv);
int img_resize_main(int argc, char **argv);
int img_compare_main(int argc, char **argv);
int img_io_main(int argc, char **argv);

/* "quail img: <message>" on stderr. */
void img_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Opens an image for a command; prints the error. */
int img_open(const char *filename, const char *fmt, int flags, BlockNode **out);
/* Attaches the tool's root user to a node opened otherwise (takes over the
 * reference; on failure it is dropped and *out cleared). */
int img_adopt(const char *name, int flags, BlockNode **out);
/* Releases an image from img_open (NULL is fine). */
void img_close(BlockNode *bs);
/* qemu's size_to_str(): "%0.3g <prefix>B". */
void img_size_str(uint64_t v, char *buf, size_t cap);
/* Block status through the backing chain: flags of the layer that decides
 * (or of the bottom), with *depth the layer index and *layer that node. */
int img_chain_status(BlockNode *bs, uint64_t off, uint64_t bytes, uint64_t *pnum,
                     int *depth, uint64_t *map, BlockNode **file);
/* Parses "-o key=value,..." into create options; strings point into `str`. */
int img_parse_create_opts(char *str, BlockCreateOpts *o, bool *have_size);
bool img_is_zero(const uint8_t *p, size_t n);

#endif
