/* Chunk encoding: what is stored raw and what is compressed, and that every
 * encoding decodes back to its input. */
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>

#include "backup/chunk.h"

#define PIECE CHUNK_PIECE_MAX

#define KIB 1024u
#define MIB (1024u * 1024u)

/* xorshift64*: deterministic bytes no compressor can shrink. */
static void fill_random(uint8_t *p, size_t len, uint64_t seed)
{
    uint64_t x = seed | 1;
    for (size_t i = 0; i < len; i++) {
        if (i % 8 == 0) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
        }
        p[i] = (uint8_t)((x * 0x2545F4914F6CDD1Dull) >> (8 * (i % 8)));
    }
}

static void fill_text(uint8_t *p, size_t len)
{
    static const char line[] = "quail chunk test: a line of fairly compressible text 0123456789\n";
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)line[i % (sizeof(line) - 1)];
}

/* Random letters from a 64-symbol alphabet (like base64): no repeats for
 * zstd's match finder, only the entropy coder shrinks it (6 bits a byte). */
static void fill_base64ish(uint8_t *p, size_t len, uint64_t seed)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fill_random(p, len, seed);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)abc[p[i] % 64];
}

/* Encodes data with c, checks the header and decodes it again; returns the
 * codec and sets *plen_out. */
static int encode_check(ChunkCoder *c, const uint8_t *data, size_t len, size_t *plen_out)
{
    uint8_t hdr[CHUNK_HEADER_LEN];
    const void *payload = NULL;
    size_t plen = 0;
    assert_int_equal(chunk_encode_with(c, data, len, hdr, &payload, &plen), 0);
    assert_memory_equal(hdr, CHUNK_MAGIC, 4);
    assert_int_equal(hdr[4], 1);
    uint32_t ulen = hdr[8] | hdr[9] << 8 | hdr[10] << 16 | (uint32_t)hdr[11] << 24;
    uint32_t clen = hdr[12] | hdr[13] << 8 | hdr[14] << 16 | (uint32_t)hdr[15] << 24;
    assert_int_equal(ulen, len);
    assert_int_equal(clen, plen);
    if (hdr[5] == CHUNK_CODEC_NONE) {
        /* Stored as is: the payload is the caller's data, not a copy. */
        assert_ptr_equal(payload, data);
        assert_int_equal(plen, len);
    } else {
        assert_int_equal(hdr[5], CHUNK_CODEC_ZSTD);
        assert_true(plen < len);
    }

    uint8_t *enc = malloc(CHUNK_HEADER_LEN + plen);
    uint8_t *dec = malloc(len ? len : 1);
    assert_non_null(enc);
    assert_non_null(dec);
    memcpy(enc, hdr, CHUNK_HEADER_LEN);
    memcpy(enc + CHUNK_HEADER_LEN, payload, plen);
    uint8_t hash[REPO_HASH_LEN];
    assert_int_equal(chunk_name(PIECE, data, len, hash), 0);
    assert_int_equal(chunk_decode(enc, CHUNK_HEADER_LEN + plen, hash, PIECE, dec, len, "t"), (int)len);
    assert_memory_equal(dec, data, len);
    free(enc);
    free(dec);
    *plen_out = plen;
    return hdr[5];
}

static const size_t probed_sizes[] = { 256 * KIB, 256 * KIB + 12345, 1 * MIB, 4 * MIB,
                                       16 * MIB };

static void random_stored_raw(void **state)
{
    (void)state;
    ChunkCoder c = { 0 };
    for (size_t k = 0; k < sizeof(probed_sizes) / sizeof(probed_sizes[0]); k++) {
        size_t len = probed_sizes[k], plen;
        uint8_t *d = malloc(len);
        assert_non_null(d);
        fill_random(d, len, 7 + k);
        assert_int_equal(encode_check(&c, d, len, &plen), CHUNK_CODEC_NONE);
        free(d);
    }
    chunk_coder_free(&c);
}

static void text_compressed(void **state)
{
    (void)state;
    ChunkCoder c = { 0 };
    for (size_t k = 0; k < sizeof(probed_sizes) / sizeof(probed_sizes[0]); k++) {
        size_t len = probed_sizes[k], plen;
        uint8_t *d = malloc(len);
        assert_non_null(d);
        fill_text(d, len);
        assert_int_equal(encode_check(&c, d, len, &plen), CHUNK_CODEC_ZSTD);
        assert_true(plen < len / 50);
        /* Only the entropy coder can shrink this one; it must not be taken
         * for random data. */
        fill_base64ish(d, len, 11 + k);
        assert_int_equal(encode_check(&c, d, len, &plen), CHUNK_CODEC_ZSTD);
        assert_true(plen < len * 7 / 8);
        free(d);
    }
    chunk_coder_free(&c);
}

/* A chunk that is part random, part compressible (text or zeros) in either
 * order must be compressed: the probe must look at more than one place. */
static void mixed_compressed(void **state)
{
    (void)state;
    ChunkCoder c = { 0 };
    for (size_t k = 0; k < sizeof(probed_sizes) / sizeof(probed_sizes[0]); k++) {
        size_t len = probed_sizes[k], half = len / 2, plen;
        uint8_t *d = malloc(len);
        assert_non_null(d);
        for (int order = 0; order < 2; order++) {
            for (int zeros = 0; zeros < 2; zeros++) {
                uint8_t *rnd = order ? d + half : d;
                uint8_t *other = order ? d : d + half;
                size_t rlen = order ? len - half : half;
                size_t olen = len - rlen;
                fill_random(rnd, rlen, 100 + k);
                if (zeros)
                    memset(other, 0, olen);
                else
                    fill_text(other, olen);
                assert_int_equal(encode_check(&c, d, len, &plen), CHUNK_CODEC_ZSTD);
                assert_true(plen < rlen + olen / 8);
            }
        }
        /* Three quarters random, then a quarter of zeros, and the other way
         * round (a file's tail followed by unused space). */
        fill_random(d, len, 200 + k);
        memset(d + len - len / 4, 0, len / 4);
        assert_int_equal(encode_check(&c, d, len, &plen), CHUNK_CODEC_ZSTD);
        assert_true(plen < len - len / 5);
        fill_random(d, len, 300 + k);
        memset(d, 0, len / 4);
        assert_int_equal(encode_check(&c, d, len, &plen), CHUNK_CODEC_ZSTD);
        assert_true(plen < len - len / 5);
        free(d);
    }
    chunk_coder_free(&c);
}

/* Compressible islands in random data: a sixteenth of the chunk, half-filled
 * blocks (data, then zeros), one or two file system blocks of zeros. */
static void islands_compressed(void **state)
{
    (void)state;
    ChunkCoder c = { 0 };
    for (size_t k = 0; k < sizeof(probed_sizes) / sizeof(probed_sizes[0]); k++) {
        size_t len = probed_sizes[k], plen;
        uint8_t *d = malloc(len);
        assert_non_null(d);
        size_t isl = len / 16, at = (len * 2 / 5) & ~(size_t)4095;
        fill_random(d, len, 800 + k);
        memset(d + at, 0, isl);
        assert_int_equal(encode_check(&c, d, len, &plen), CHUNK_CODEC_ZSTD);
        assert_true(plen < len - isl / 2);
        fill_random(d, len, 900 + k);
        fill_text(d + at, isl);
        assert_int_equal(encode_check(&c, d, len, &plen), CHUNK_CODEC_ZSTD);
        assert_true(plen < len - isl / 2);
        fill_random(d, len, 1000 + k);
        for (size_t b = 0; b + 4096 <= len; b += 4096)
            memset(d + b + 2048, 0, 2048);
        assert_int_equal(encode_check(&c, d, len, &plen), CHUNK_CODEC_ZSTD);
        assert_true(plen < len * 3 / 4);
        free(d);
    }
    /* Two 4 KiB blocks of zeros in 256 KiB of random data, away from the
     * middles of its quarters: 3 % of the chunk. */
    size_t len = 256 * KIB, plen;
    uint8_t *d = malloc(len);
    assert_non_null(d);
    fill_random(d, len, 1100);
    memset(d + 100 * KIB, 0, 4 * KIB);
    memset(d + 180 * KIB, 0, 4 * KIB);
    assert_int_equal(encode_check(&c, d, len, &plen), CHUNK_CODEC_ZSTD);
    assert_true(plen < len - 6 * KIB);
    /* One block of zeros, 1.6 %, still saves more than zstd's minimum gain. */
    fill_random(d, len, 1200);
    memset(d + 212 * KIB, 0, 4 * KIB);
    assert_int_equal(encode_check(&c, d, len, &plen), CHUNK_CODEC_ZSTD);
    assert_true(plen < len - 3 * KIB);
    free(d);
    chunk_coder_free(&c);
}

/* Chunks below the probe's size (the last chunk of a disk, small chunk
 * sizes) go through zstd as before and still round-trip. */
static void tiny_chunks(void **state)
{
    (void)state;
    static const size_t sizes[] = { 0, 1, 15, 16, 17, 100, 4 * KIB, 64 * KIB - 1, 64 * KIB,
                                    128 * KIB, 256 * KIB - 1 };
    ChunkCoder c = { 0 };
    uint8_t *d = malloc(256 * KIB);
    assert_non_null(d);
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t len = sizes[k], plen;
        fill_random(d, len, 400 + k);
        assert_int_equal(encode_check(&c, d, len, &plen), CHUNK_CODEC_NONE);
        fill_text(d, len);
        int codec = encode_check(&c, d, len, &plen);
        if (len >= 4 * KIB) {
            assert_int_equal(codec, CHUNK_CODEC_ZSTD);
            assert_true(plen < len / 10);
        }
        if (len >= 2) {
            fill_random(d, len / 2, 500 + k);
            encode_check(&c, d, len, &plen);
        }
    }
    free(d);
    chunk_coder_free(&c);
}

/* One coder, sizes up and down, kinds alternating: the buffer the probe and
 * zstd share must follow. */
static void coder_reused(void **state)
{
    (void)state;
    static const size_t sizes[] = { 64 * KIB, 16 * MIB, 256 * KIB, 300 * KIB, 1 * MIB, 17 };
    ChunkCoder c = { 0 };
    uint8_t *d = malloc(16 * MIB);
    assert_non_null(d);
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t len = sizes[k], plen;
        fill_random(d, len, 600 + k);
        assert_int_equal(encode_check(&c, d, len, &plen), CHUNK_CODEC_NONE);
        fill_text(d + len / 2, len - len / 2);
        if (len >= 64 * KIB)
            assert_int_equal(encode_check(&c, d, len, &plen), CHUNK_CODEC_ZSTD);
    }
    free(d);
    chunk_coder_free(&c);
    assert_null(c.cctx);
    assert_null(c.out);
}

/* chunk_encode() (one-off buffer) agrees with chunk_encode_with(), and damage
 * to a raw chunk is caught by the hash. */
static void encode_malloc_and_damage(void **state)
{
    (void)state;
    size_t len = 512 * KIB;
    uint8_t *d = malloc(len), *dec = malloc(len), hash[REPO_HASH_LEN];
    assert_non_null(d);
    assert_non_null(dec);
    fill_random(d, len, 700);
    assert_int_equal(chunk_name(PIECE, d, len, hash), 0);
    void *enc = NULL;
    size_t elen = 0;
    assert_int_equal(chunk_encode(d, len, &enc, &elen), 0);
    assert_int_equal(elen, CHUNK_HEADER_LEN + len);
    assert_int_equal(((uint8_t *)enc)[5], CHUNK_CODEC_NONE);
    assert_int_equal(chunk_decode(enc, elen, hash, PIECE, dec, len, "t"), (int)len);
    assert_memory_equal(dec, d, len);
    ((uint8_t *)enc)[CHUNK_HEADER_LEN + len / 3] ^= 1;
    assert_int_equal(chunk_decode(enc, elen, hash, PIECE, dec, len, "t"), -EBADMSG);
    free(enc);
    free(dec);
    free(d);
}

/* chunk_name() against a plain one-piece-at-a-time SHA-256 tree written here
 * with OpenSSL: the multi-buffer path must give the same names for every
 * length and piece size, and names must differ with the piece size. */
static void sha(const void *d, size_t n, uint8_t out[32])
{
    unsigned int k;
    assert_true(EVP_Digest(d, n, out, &k, EVP_sha256(), NULL));
}

static void reference_name(uint32_t piece, const uint8_t *d, size_t len, uint8_t out[32])
{
    size_t n = (len + piece - 1) / piece, hl = CHUNK_NAME_TAG_LEN + 12;
    uint8_t *root = malloc(hl + 32 * n);
    assert_non_null(root);
    memcpy(root, "quail-tree-v1", 13);
    for (int i = 0; i < 4; i++)
        root[13 + i] = (uint8_t)(piece >> (8 * i));
    for (int i = 0; i < 8; i++)
        root[17 + i] = (uint8_t)((uint64_t)len >> (8 * i));
    for (size_t i = 0; i < n; i++)
        sha(d + i * piece, len - i * piece < piece ? len - i * piece : piece, root + hl + 32 * i);
    sha(root, hl + 32 * n, out);
    free(root);
}

static void names_match_reference(void **state)
{
    (void)state;
    const size_t lens[] = { 1, 4095, 4096, 4097, 16384, 65536, 100000, 262143, 262144,
                            (1u << 20) + 5, 16u << 20 };
    const uint32_t pieces[] = { 4096, 8192, 16384 };
    uint8_t *d = malloc(16u << 20);
    assert_non_null(d);
    for (size_t i = 0; i < (16u << 20); i++)
        d[i] = (uint8_t)(i * 2654435761u >> 13);
    printf("multi-buffer hashing: %s\n", chunk_name_accelerated() ? "yes" : "no");
    for (size_t p = 0; p < 3; p++)
        for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
            uint8_t a[32], b[32];
            assert_int_equal(chunk_name(pieces[p], d, lens[l], a), 0);
            reference_name(pieces[p], d, lens[l], b);
            assert_memory_equal(a, b, 32);
            /* Many chunks back to back (the workers' pattern) stay right. */
            assert_int_equal(chunk_name(pieces[p], d + 1, lens[l] - 1, a), 0);
            reference_name(pieces[p], d + 1, lens[l] - 1, b);
            assert_memory_equal(a, b, 32);
        }
    uint8_t x[32], y[32];
    assert_int_equal(chunk_name(4096, d, 65536, x), 0);
    assert_int_equal(chunk_name(8192, d, 65536, y), 0);
    assert_memory_not_equal(x, y, 32);
    assert_int_equal(chunk_name(3000, d, 100, x), -EINVAL);
    assert_int_equal(chunk_name(4096, d, (16u << 20) + 1, x), -EINVAL);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_match_reference),
        cmocka_unit_test(random_stored_raw),
        cmocka_unit_test(text_compressed),
        cmocka_unit_test(mixed_compressed),
        cmocka_unit_test(islands_compressed),
        cmocka_unit_test(tiny_chunks),
        cmocka_unit_test(coder_reused),
        cmocka_unit_test(encode_malloc_and_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
