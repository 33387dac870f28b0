/* Chunk hashing and (de)compression; see chunk.h for the format. */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "backup/chunk.h"
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

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}

static uint32_t get32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void chunk_coder_free(ChunkCoder *c)
{
    ZSTD_freeCCtx(c->cctx);
    free(c->out);
    c->cctx = NULL;
    c->out = NULL;
    c->cap = 0;
}

/* The probe: zstd at the chunk's level on PROBE_SAMPLE bytes from every
 * PROBE_STRIDE of the chunk (at most PROBE_MAX_SAMPLES of them).  On data it
 * cannot shrink zstd still scans the whole chunk and then copies it twice
 * (literals, then a raw block): 72 us for 256 KiB of random data here, against
 * 12 us for the four samples.  Below PROBE_MIN_LEN zstd gives up on random
 * data about as fast as the samples take, so those chunks are compressed
 * outright. */
#define PROBE_SAMPLE       (4u << 10)
#define PROBE_STRIDE       (64u << 10)
#define PROBE_MAX_SAMPLES  64u     /* a power of two */
#define PROBE_MIN_LEN      (256u << 10)

/* Whether zstd may shrink data: false only when every sample stays as large.
 * A sample that shrinks at all, or any zstd error, answers true: compressing
 * what cannot shrink costs time, storing raw what could shrink costs space
 * for good.  Repeats farther apart than a sample (the same 100 KiB twice in a
 * chunk) escape the probe; disk data rarely has them within one chunk. */
static bool worth_compressing(ChunkCoder *c, const uint8_t *data, size_t len)
{
    if (len < PROBE_MIN_LEN)
        return true;
    size_t n = len / PROBE_STRIDE;
    if (n > PROBE_MAX_SAMPLES)
        n = PROBE_MAX_SAMPLES;
    size_t seg = len / n;   /* >= PROBE_STRIDE */
    /* Segments in bit-reversed order (0, 32, 16, 48, 8, ... of 64): the first
     * samples are spread over the whole chunk, so a chunk with a compressible
     * half or quarter is found after two or four samples, not after all
     * the samples of its incompressible part. */
    for (unsigned k = 0; k < PROBE_MAX_SAMPLES; k++) {
        unsigned i = 0;
        for (unsigned b = 1, r = PROBE_MAX_SAMPLES / 2; r; b <<= 1, r >>= 1)
            if (k & b)
                i |= r;
        if (i >= n)
            continue;
        /* The middle of each segment: a chunk that is half one thing and half
         * another has samples in both halves. */
        const uint8_t *s = data + i * seg + (seg - PROBE_SAMPLE) / 2;
        /* Room for zstd's worst case (c->cap >= len), so an error is a real one. */
        size_t clen = ZSTD_compressCCtx(c->cctx, c->out, c->cap, s, PROBE_SAMPLE,
                                        CHUNK_ZSTD_LEVEL);
        if (ZSTD_isError(clen) || clen < PROBE_SAMPLE)
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
    put32(hdr + 8, (uint32_t)len);
    put32(hdr + 12, (uint32_t)clen);
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
                 void *buf, size_t buflen, const char *name)
{
    const uint8_t *e = enc;
    if (enc_len < CHUNK_HEADER_LEN || memcmp(e, CHUNK_MAGIC, 4) || e[4] != 1)
        return err_set(EBADMSG, "chunk %s is damaged: bad header", name);
    uint32_t len = get32(e + 8), clen = get32(e + 12);
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
    int ret = chunk_hash(buf, len, h);
    if (ret < 0)
        return ret;
    if (memcmp(h, hash, REPO_HASH_LEN))
        return err_set(EBADMSG, "chunk %s is damaged: content does not match its hash", name);
    return (int)len;
}

void chunk_path(const uint8_t hash[REPO_HASH_LEN], char path[CHUNK_PATH_LEN])
{
    char hex[2 * REPO_HASH_LEN + 1];
    repo_hash_to_hex(hash, hex);
    memcpy(path, "chunks/", 7);
    memcpy(path + 7, hex, 2);
    path[9] = '/';
    memcpy(path + 10, hex, sizeof(hex));
}
