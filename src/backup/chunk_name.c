/* Chunk names: a SHA-256 tree over fixed pieces of the chunk (chunk.h).
 *
 * Hashing is half of a backup's CPU time.  SHA-256 is sequential within one
 * message, so a 256 KiB chunk hashed whole uses one SHA-NI stream (about
 * 1.8 GB/s here); hashed as 16 independent pieces, intel-ipsec-mb's
 * multi-buffer code runs them side by side in AVX-512 lanes (about 3.3 GB/s).
 * Without that library the pieces go through OpenSSL one after another: the
 * same names, just slower. */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backup/chunk.h"
#include "util/error.h"

#ifdef HAVE_IPSEC_MB
#include <intel-ipsec-mb.h>

/* One multi-buffer manager per thread (they are not thread-safe), freed when
 * the thread ends. */
static pthread_key_t mgr_key;
static pthread_once_t mgr_once = PTHREAD_ONCE_INIT;
static bool mgr_key_ok;

static void mgr_free(void *m)
{
    free_mb_mgr(m);
}

static void mgr_key_init(void)
{
    mgr_key_ok = pthread_key_create(&mgr_key, mgr_free) == 0;
}

static IMB_MGR *thread_mgr(void)
{
    pthread_once(&mgr_once, mgr_key_init);
    if (!mgr_key_ok)
        return NULL;
    IMB_MGR *m = pthread_getspecific(mgr_key);
    if (m)
        return m;
    m = alloc_mb_mgr(0);
    if (!m)
        return NULL;
    init_mb_mgr_auto(m, NULL);
    if (imb_get_errno(m) || pthread_setspecific(mgr_key, m)) {
        free_mb_mgr(m);
        return NULL;
    }
    return m;
}

static bool job_done(IMB_JOB *j)
{
    return j->status == IMB_STATUS_COMPLETED;
}

/* SHA-256 of each piece into leaves; false if the library failed (the caller
 * then hashes with OpenSSL). */
static bool leaves_mb(const uint8_t *data, size_t len, uint32_t piece, uint8_t (*leaves)[32])
{
    IMB_MGR *m = thread_mgr();
    if (!m)
        return false;
    bool ok = true;
    size_t n = (len + piece - 1) / piece;
    for (size_t i = 0; i < n; i++) {
        IMB_JOB *j = IMB_GET_NEXT_JOB(m);
        memset(j, 0, sizeof(*j));
        j->cipher_mode = IMB_CIPHER_NULL;
        j->cipher_direction = IMB_DIR_ENCRYPT;
        j->chain_order = IMB_ORDER_HASH_CIPHER;
        j->hash_alg = IMB_AUTH_SHA_256;
        j->src = data + i * piece;
        j->msg_len_to_hash_in_bytes = len - i * piece < piece ? len - i * piece : piece;
        j->auth_tag_output = leaves[i];
        j->auth_tag_output_len_in_bytes = 32;
        for (j = IMB_SUBMIT_JOB(m); j; j = IMB_GET_COMPLETED_JOB(m))
            ok &= job_done(j);
    }
    for (IMB_JOB *j; (j = IMB_FLUSH_JOB(m));)
        ok &= job_done(j);
    return ok;
}
#else
static bool leaves_mb(const uint8_t *data, size_t len, uint32_t piece, uint8_t (*leaves)[32])
{
    (void)data, (void)len, (void)piece, (void)leaves;
    return false;
}
#endif

bool chunk_name_accelerated(void)
{
#ifdef HAVE_IPSEC_MB
    return thread_mgr() != NULL;
#else
    return false;
#endif
}

int chunk_name(uint32_t piece, const void *data, size_t len, uint8_t hash[REPO_HASH_LEN])
{
    if (piece < CHUNK_PIECE_MIN || piece > CHUNK_PIECE_MAX || (piece & (piece - 1)) ||
        len > REPO_MAX_CHUNK_SIZE)
        return err_set(EINVAL, "bad chunk naming parameters (piece %u, %zu bytes)", piece, len);
    size_t n = (len + piece - 1) / piece;
    /* The root's input: a tag, the piece size and length (so the tree's
     * shape is fixed by them), then the leaves. */
    size_t hlen = CHUNK_NAME_TAG_LEN + 12;
    uint8_t *root = malloc(hlen + n * REPO_HASH_LEN);
    if (!root)
        return err_set(ENOMEM, "out of memory");
    memcpy(root, CHUNK_NAME_TAG, CHUNK_NAME_TAG_LEN);
    uint8_t *p = root + CHUNK_NAME_TAG_LEN;
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(piece >> (8 * i));
    for (int i = 0; i < 8; i++)
        p[4 + i] = (uint8_t)((uint64_t)len >> (8 * i));
    uint8_t (*leaves)[32] = (uint8_t (*)[32])(root + hlen);
    int ret = 0;
    if (n && !leaves_mb(data, len, piece, leaves))
        for (size_t i = 0; i < n && ret == 0; i++)
            ret = chunk_hash((const uint8_t *)data + i * piece,
                             len - i * piece < piece ? len - i * piece : piece, leaves[i]);
    if (ret == 0)
        ret = chunk_hash(root, hlen + n * REPO_HASH_LEN, hash);
    free(root);
    return ret;
}

uint32_t chunk_piece_for(uint32_t chunk_size)
{
    uint32_t p = chunk_size / 16;
    return p < CHUNK_PIECE_MIN ? CHUNK_PIECE_MIN : p > CHUNK_PIECE_MAX ? CHUNK_PIECE_MAX : p;
}
