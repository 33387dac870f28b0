/* Chunk hashing and (de)compression; see chunk.h for the format. */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "backup/chunk.h"
#include "util/bytes.h"
#include "util/error.h"

int chunk_hash(const void *data, size_t len, uint8_t hash[REPO_HASH_LEN])
{
    unsigned int n = 0;
    if (!EVP_Digest(data, len, hash, &n, EVP_sha256(), NULL) || n != REPO_HASH_LEN)
        return err_set(EIO, "SHA-256 failed");
    return 0;
}

bool chunk_is_zero(const void *data, size_t len)
{
    const unsigned char *p = data;
    /* Compare the buffer with itself shifted by 16 bytes after checking the
     * first 16: a fast, alignment-free all-zero test. */
    size_t head = len < 16 ? len : 16;
    for (size_t i = 0; i < head; i++)
        if (p[i])
            return false;
    return len <= 16 || !memcmp(p, p + 16, len - 16);
}

void chunk_coder_free(ChunkCoder *c)
{
    ZSTD_freeCCtx(c->cctx);
    free(c->out);
    c->cctx = NULL;
    c->out = NULL;
    c->cap = 0;
}

/* The probe: PROBE_PIECE bytes from each of PROBE_PIECES stretches of the
 * chunk (every 4 KiB file system block of a 256 KiB chunk), gathered into
 * PROBE_GROUPS samples of 4 KiB and compressed by zstd at the chunk's level.
 * On data it cannot shrink zstd still scans the whole chunk and then copies
 * it twice (literals, then a raw block): 71 us for 256 KiB of random data
 * here, against 19 us for the probe.  Every stretch has a piece in the
 * samples, so a chunk with a few blocks of zeros or text among random ones
 * is still compressed.  The piece's place in its stretch moves from one
 * stretch to the next, so half-filled blocks (a file's tail, then zeros) are
 * seen both ways.  Below PROBE_MIN_LEN zstd gives up on random data about as
 * fast as the probe takes, so those chunks are compressed outright. */
#define PROBE_PIECE        256u
#define PROBE_PIECES       64u
#define PROBE_GROUPS       4u
#define PROBE_MIN_LEN      (256u << 10)

/* Whether zstd may shrink data: false only when no sample shrinks.  A sample
 * that shrinks at all (one piece of zeros does), or any zstd error, answers
 * true: compressing what cannot shrink costs time, storing raw what could
 * shrink costs space for good.  What escapes the probe: repeats farther apart
 * than a piece (the same 100 KiB twice in a chunk), and compressible
 * stretches no piece falls into (shorter than a stretch: 4 KiB in a 256 KiB
 * chunk, 256 KiB in a 16 MiB one). */
static bool worth_compressing(ChunkCoder *c, const uint8_t *data, size_t len)
{
    if (len < PROBE_MIN_LEN)
        return true;
    size_t stride = len / PROBE_PIECES;     /* >= 4 KiB */
    size_t slen = PROBE_PIECES * PROBE_PIECE;
    /* c->out (len bytes) holds the sample and then zstd's output, with room
     * for its worst case, so an error is a real one. */
    uint8_t *sample = c->out, *dst = c->out + slen;
    uint64_t span = stride - PROBE_PIECE + 1;   /* places for a piece in a stretch */
    for (size_t k = 0; k < PROBE_PIECES; k++) {
        /* The fractional part of k times the golden ratio, scaled to the
         * stretch: places spread evenly and out of step with any power-of-two
         * structure of the data (a piece at the same place in every 4 KiB
         * block would see only data, or only zeros, of half-filled blocks). */
        uint64_t frac = (k * 0x9E3779B97F4A7C15ull) >> 32;
        size_t at = k * stride + (size_t)((frac * span) >> 32);
        /* Group g of the sample gets the pieces k = g mod PROBE_GROUPS: each
         * group spans the whole chunk. */
        size_t g = k % PROBE_GROUPS, j = k / PROBE_GROUPS;
        memcpy(sample + (g * (PROBE_PIECES / PROBE_GROUPS) + j) * PROBE_PIECE, data + at,
               PROBE_PIECE);
    }
    /* Each group is compressed on its own: zstd takes longer and longer
     * strides through data that yields no matches, and after 16 KiB of random
     * pieces it stepped over 256-byte pieces of text in the tests; within
     * 4 KiB the strides stay short.  A compressible chunk is usually known
     * after the first sample. */
    size_t glen = slen / PROBE_GROUPS;
    for (size_t g = 0; g < PROBE_GROUPS; g++) {
        size_t clen = ZSTD_compressCCtx(c->cctx, dst, c->cap - slen, sample + g * glen, glen,
                                        CHUNK_ZSTD_LEVEL);
        if (ZSTD_isError(clen) || clen < glen)
            return true;
    }
    return false;
}

int chunk_encode_with(ChunkCoder *c, const void *data, size_t len,
                      uint8_t hdr[CHUNK_HEADER_LEN], const void **payload, size_t *plen)
{
    if (len > REPO_MAX_CHUNK_SIZE)
        return err_set(EINVAL, "chunk of %zu bytes is too large", len);
    if (!c->cctx && !(c->cctx = ZSTD_createCCtx()))
        return err_set(ENOMEM, "out of memory");
    /* Output beyond len is useless (stored as is then), so the buffer is len
     * long and zstd gives up early on incompressible data. */
    if (c->cap < len) {
        void *p = realloc(c->out, len ? len : 1);
        if (!p)
            return err_set(ENOMEM, "out of memory");
        c->out = p;
        c->cap = len;
    }
    size_t clen = len;
    if (worth_compressing(c, data, len))
        clen = ZSTD_compressCCtx(c->cctx, c->out, len, data, len, CHUNK_ZSTD_LEVEL);
    uint8_t codec = CHUNK_CODEC_ZSTD;
    if (ZSTD_isError(clen) || clen >= len) {
        /* Incompressible data is stored as is: smaller and faster to read. */
        *payload = data;
        clen = len;
        codec = CHUNK_CODEC_NONE;
    } else {
        *payload = c->out;
    }
    memcpy(hdr, CHUNK_MAGIC, 4);
    hdr[4] = 1;
    hdr[5] = codec;
    hdr[6] = hdr[7] = 0;
    put_le32(hdr + 8, (uint32_t)len);
    put_le32(hdr + 12, (uint32_t)clen);
    *plen = clen;
    return 0;
}

int chunk_encode(const void *data, size_t len, void **out, size_t *out_len)
{
    ChunkCoder c = { 0 };
    uint8_t hdr[CHUNK_HEADER_LEN];
    const void *payload;
    size_t plen;
    int ret = chunk_encode_with(&c, data, len, hdr, &payload, &plen);
    uint8_t *buf = ret < 0 ? NULL : malloc(CHUNK_HEADER_LEN + plen);
    if (ret == 0 && !buf)
        ret = err_set(ENOMEM, "out of memory");
    if (ret == 0) {
        memcpy(buf, hdr, CHUNK_HEADER_LEN);
        memcpy(buf + CHUNK_HEADER_LEN, payload, plen);
        *out = buf;
        *out_len = CHUNK_HEADER_LEN + plen;
    }
    chunk_coder_free(&c);
    return ret;
}

int chunk_decode(const void *enc, size_t enc_len, const uint8_t hash[REPO_HASH_LEN],
                 uint32_t piece, void *buf, size_t buflen, const char *name)
{
    const uint8_t *e = enc;
    if (enc_len < CHUNK_HEADER_LEN || memcmp(e, CHUNK_MAGIC, 4) || e[4] != 1)
        return err_set(EBADMSG, "chunk %s is damaged: bad header", name);
    uint32_t len = get_le32(e + 8), clen = get_le32(e + 12);
    if (len > REPO_MAX_CHUNK_SIZE || clen != enc_len - CHUNK_HEADER_LEN)
        return err_set(EBADMSG, "chunk %s is damaged: bad lengths", name);
    if (len > buflen)
        return err_set(EBADMSG, "chunk %s is damaged: %u bytes, more than the %zu expected",
                       name, len, buflen);
    if (e[5] == CHUNK_CODEC_NONE) {
        if (clen != len)
            return err_set(EBADMSG, "chunk %s is damaged: bad lengths", name);
        memcpy(buf, e + CHUNK_HEADER_LEN, len);
    } else if (e[5] == CHUNK_CODEC_ZSTD) {
        size_t n = ZSTD_decompress(buf, len, e + CHUNK_HEADER_LEN, clen);
        if (ZSTD_isError(n) || n != len)
            return err_set(EBADMSG, "chunk %s is damaged: %s", name,
                           ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short data");
    } else {
        return err_set(EBADMSG, "chunk %s is damaged: unknown codec %u", name, e[5]);
    }
    uint8_t h[REPO_HASH_LEN];
    int ret = chunk_name(piece, buf, len, h);
    if (ret < 0)
        return ret;
    if (memcmp(h, hash, REPO_HASH_LEN))
        return err_set(EBADMSG, "chunk %s is damaged: content does not match its hash", name);
    return (int)len;
}
