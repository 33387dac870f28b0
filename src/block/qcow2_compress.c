/* Decompression of qcow2 compressed clusters: raw deflate with a 4 KiB window
 * (zlib, as QEMU writes it) or zstd frames.  The input is the sector-rounded
 * area from the L2 entry, so trailing bytes after the stream are ignored; the
 * output must fill the cluster exactly. */
#include "block/qcow2.h"
#include "util/error.h"

#include <zlib.h>
#include <zstd.h>

static int inflate_raw(const uint8_t *src, size_t slen, uint8_t *dst, size_t dlen)
{
    z_stream z = { 0 };
    if (inflateInit2(&z, -12) != Z_OK)
        return err_set(ENOMEM, "inflateInit2 failed");
    z.next_in = (Bytef *)src;
    z.avail_in = (uInt)slen;
    z.next_out = dst;
    z.avail_out = (uInt)dlen;
    int r = inflate(&z, Z_FINISH);
    inflateEnd(&z);
    if ((r == Z_STREAM_END || r == Z_BUF_ERROR) && z.avail_out == 0)
        return 0;
    return err_set(EIO, "zlib decompression failed (%d)", r);
}

static int zstd_dec(const uint8_t *src, size_t slen, uint8_t *dst, size_t dlen)
{
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (!d)
        return err_set(ENOMEM, "ZSTD_createDCtx failed");
    ZSTD_inBuffer in = { src, slen, 0 };
    ZSTD_outBuffer out = { dst, dlen, 0 };
    int ret = 0;
    /* Bounded: every call consumes input or produces output, or we stop. */
    while (out.pos < out.size) {
        size_t before_in = in.pos, before_out = out.pos;
        size_t r = ZSTD_decompressStream(d, &out, &in);
        if (ZSTD_isError(r)) {
            ret = err_set(EIO, "zstd decompression failed: %s", ZSTD_getErrorName(r));
            break;
        }
        if (in.pos == before_in && out.pos == before_out) {
            ret = err_set(EIO, "zstd data ends before the cluster is complete");
            break;
        }
    }
    ZSTD_freeDCtx(d);
    return ret;
}

int qcow2_decompress(int type, const uint8_t *src, size_t slen, uint8_t *dst, size_t dlen)
{
    if (type == QCOW2_COMP_ZSTD)
        return zstd_dec(src, slen, dst, dlen);
    return inflate_raw(src, slen, dst, dlen);
}

static int deflate_raw(const uint8_t *src, size_t slen, uint8_t *dst, size_t cap)
{
    z_stream z = { 0 };
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return err_set(ENOMEM, "deflateInit2 failed");
    z.next_in = (Bytef *)src;
    z.avail_in = (uInt)slen;
    z.next_out = dst;
    z.avail_out = (uInt)cap;
    int r = deflate(&z, Z_FINISH);
    size_t out = cap - z.avail_out;
    deflateEnd(&z);
    if (r != Z_STREAM_END)
        return -ENOSPC;
    return (int)out;
}

int qcow2_compress(int type, const uint8_t *src, size_t slen, uint8_t *dst, size_t cap)
{
    if (type == QCOW2_COMP_ZSTD) {
        size_t r = ZSTD_compress(dst, cap, src, slen, ZSTD_CLEVEL_DEFAULT);
        if (ZSTD_isError(r))
            return -ENOSPC;
        return (int)r;
    }
    return deflate_raw(src, slen, dst, cap);
}
