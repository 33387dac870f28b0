/* qcow2 driver: open/close, header updates, corruption handling, resize,
 * image info.  I/O is in qcow2_cluster.c, allocation in qcow2_refcount.c. */
#include "block/qcow2.h"
#include "block/qcow2_bitmap.h"
#include "block/blockdev_opts.h"
#include "util/error.h"
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int qcow2_probe(const uint8_t *buf, size_t len)
{
    if (len >= 8 && be32_get(buf) == QCOW2_MAGIC && be32_get(buf + 4) >= 2)
        return 100;
    return 0;
}

int qcow2_write_header_field(BlockNode *bs, uint64_t off, const void *buf, size_t len)
{
    return blk_pwrite(bs->file->node, off, buf, len);
}

int qcow2_meta_flush(BlockNode *bs)
{
    Qcow2State *s = bs->opaque;
    if (!s->meta_dirty)
        return 0;
    int ret = blk_flush(bs->file->node);
    if (ret == 0)
        s->meta_dirty = false;
    return ret;
}

/* Marks the image corrupt (when writable) so no further writes damage it,
 * and fails the request, like QEMU's qcow2_signal_corruption(). */
int qcow2_signal_corruption(BlockNode *bs, const char *fmt, ...)
{
    Qcow2State *s = bs->opaque;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!bs->read_only && !s->corrupt_signalled) {
        s->corrupt_signalled = true;
        log_msg("qcow2: Marking image as corrupt: %s; further corruption events will be suppressed",
                msg);
        uint8_t b[8];
        s->incompat |= QCOW2_INCOMPAT_CORRUPT;
        be64_put(b, s->incompat);
        if (blk_pwrite(bs->file->node, QH_INCOMPAT, b, 8) == 0)
            blk_flush(bs->file->node);
    }
    return err_set(EIO, "qcow2 image '%s' is corrupt: %s", bs->filename, msg);
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}

bool qcow2_overlaps_metadata(Qcow2State *s, uint64_t off, uint64_t len)
{
    uint64_t cs = s->cluster_size;
    if (overlap(off, len, 0, cs) || overlap(off, len, s->l1_offset, (uint64_t)s->l1_size * 8) ||
        overlap(off, len, s->reftable_offset, (uint64_t)s->reftable_clusters * cs))
        return true;
    if (s->nb_snapshots && overlap(off, len, s->snapshots_offset, cs))
        return true;
    for (uint64_t i = 0; i < s->reftable_size; i++) {
        uint64_t r = s->reftable[i] & REFT_OFFSET_MASK;
        if (r && overlap(off, len, r, cs))
            return true;
    }
    for (uint32_t i = 0; i < s->l1_size; i++) {
        uint64_t l2 = s->l1[i] & L1E_OFFSET_MASK;
        if (l2 && overlap(off, len, l2, cs))
            return true;
    }
    return false;
}

static void qcow2_close(BlockNode *bs)
{
    Qcow2State *s = bs->opaque;
    /* Bitmaps go back into the image, no longer in use (qcow2_bitmap.c). */
    if (bs->file && !bs->read_only && s->l1 && qcow2_bitmaps_store(bs) < 0)
        log_msg("qcow2: storing bitmaps of %s failed: %s", bs->node_name, err_msg());
    if (bs->file && !bs->read_only)
        blk_flush(bs->file->node);
    qcow2_cache_free(&s->l2_cache);
    qcow2_cache_free(&s->rb_cache);
    free(s->l1);
    free(s->reftable);
    free(s->cbuf);
    pthread_rwlock_destroy(&s->lock);
    pthread_mutex_destroy(&s->cache_lock);
}

static int read_l1(BlockNode *bs)
{
    Qcow2State *s = bs->opaque;
    size_t bytes = (size_t)s->l1_size * 8;
    s->l1 = calloc(s->l1_size ? s->l1_size : 1, 8);
    if (!s->l1)
        return err_set(ENOMEM, "out of memory for the L1 table");
    if (!bytes)
        return 0;
    int ret = blk_pread(bs->file->node, s->l1_offset, s->l1, bytes);
    if (ret < 0)
        return err_prefix(ret, "Could not read the L1 table");
    for (uint32_t i = 0; i < s->l1_size; i++)
        s->l1[i] = be64_get(&s->l1[i]);
    return 0;
}

static _Thread_local int backing_depth;
/* Images (device, inode) of the chain being opened on this thread, so a
 * backing file that leads back into the chain is refused with a clear
 * message instead of recursing. */
static _Thread_local struct { dev_t dev; ino_t ino; } chain_ids[33];

static bool in_open_chain(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return false;
    for (int i = 0; i < backing_depth && i < 33; i++)
        if (chain_ids[i].dev == st.st_dev && chain_ids[i].ino == st.st_ino)
            return true;
    return false;
}

static int open_backing(BlockNode *bs, json_object *opts, int flags)
{
    json_object *v;
    if (json_object_object_get_ex(opts, "backing", &v)) {
        BlockChild *c;
        if (json_object_is_type(v, json_type_null))
            return 0;   /* backing: null opens without the chain */
        return blk_open_child(bs, opts, "backing", BLK_ROLE_BACKING, flags, false, &c);
    }
    if (!bs->backing_file[0] || (flags & BLK_O_NO_BACKING))
        return 0;
    /* A relative backing name is relative to this image's directory. */
    char path[sizeof(bs->filename) + sizeof(bs->backing_file)];
    if (bs->backing_file[0] == '/' || !strchr(bs->filename, '/')) {
        snprintf(path, sizeof(path), "%s", bs->backing_file);
    } else {
        const char *slash = strrchr(bs->filename, '/');
        snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - bs->filename), bs->filename,
                 bs->backing_file);
    }
    if (in_open_chain(path))
        return err_set(ELOOP, "Backing file '%s' creates an infinite loop", path);
    const char *fmt = bs->backing_fmt[0] ? bs->backing_fmt : NULL;
    if (!fmt) {
        int ret = blk_probe_format(path, &fmt);
        if (ret < 0)
            return err_prefix(ret, "Could not open backing file");
    }
    json_object *b = json_object_new_object(), *f = json_object_new_object();
    if (!b || !f) {
        json_object_put(b);
        json_object_put(f);
        return err_set(ENOMEM, "out of memory");
    }
    json_object_object_add(f, "driver", json_object_new_string("file"));
    json_object_object_add(f, "filename", json_object_new_string(path));
    json_object_object_add(b, "driver", json_object_new_string(fmt));
    json_object_object_add(b, "file", f);
    json_object_object_add(b, "read-only", json_object_new_boolean(1));
    /* Depth is bounded: a chain that loops back fails on the cycle check or
     * runs into the lock/format errors long before the stack matters. */
    json_object *tmp = json_object_new_object();
    json_object_object_add(tmp, "backing", b);
    BlockChild *c;
    int ret = blk_open_child(bs, tmp, "backing", BLK_ROLE_BACKING, flags & ~BLK_O_RDWR, false, &c);
    json_object_put(tmp);
    if (ret < 0)
        return err_prefix(ret, "Could not open backing file '%s'", path);
    return 0;
}



#define BME_FLAG_IN_USE 1u

static int mark_bitmaps_in_use(BlockNode *bs)
{
    Qcow2State *s = bs->opaque;
    uint64_t size = s->bitmap_dir_size;
    uint8_t *d = malloc(size ? size : 1);
    if (!d)
        return err_set(ENOMEM, "out of memory");
    int ret = blk_pread(bs->file->node, s->bitmap_dir_offset, d, size);
    bool changed = false;
    uint64_t pos = 0;
    for (uint32_t i = 0; ret == 0 && i < s->nb_bitmaps; i++) {
        if (pos + 24 > size) {
            ret = err_set(EINVAL, "qcow2 bitmap directory is truncated");
            break;
        }
        uint32_t flags = be32_get(d + pos + 12);
        if (!(flags & BME_FLAG_IN_USE)) {
            be32_put(d + pos + 12, flags | BME_FLAG_IN_USE);
            changed = true;
        }
        uint64_t len = 24 + (uint64_t)be32_get(d + pos + 20) + be16_get(d + pos + 18);
        pos += (len + 7) & ~7ull;
    }
    if (ret == 0 && changed) {
        ret = blk_pwrite(bs->file->node, s->bitmap_dir_offset, d, size);
        if (ret == 0)
            ret = blk_flush(bs->file->node);
    }
    free(d);
    return ret;
}

static int qcow2_open(BlockNode *bs, json_object *opts, int flags)
{
    Qcow2State *s = bs->opaque;
    pthread_rwlock_init(&s->lock, NULL);
    pthread_mutex_init(&s->cache_lock, NULL);
    BlockChild *fc;
    int ret = blk_open_child(bs, opts, "file", BLK_ROLE_FILE, flags, false, &fc);
    if (ret < 0)
        return ret;
    snprintf(bs->filename, sizeof(bs->filename), "%s", fc->node->filename);
    int64_t flen = blk_getlength(fc->node);
    if (flen < 0)
        return (int)flen;
    s->file_len = (uint64_t)flen;

    uint8_t first[512];
    size_t n = flen < (int64_t)sizeof(first) ? (size_t)flen : sizeof(first);
    if ((ret = blk_pread(fc->node, 0, first, n)) < 0)
        return ret;
    if (n < 8 || be32_get(first) != QCOW2_MAGIC)
        return err_set(EINVAL, "Image is not in qcow2 format");
    uint32_t cbits = n >= 24 ? be32_get(first + 20) : 0;
    size_t hlen = n;
    uint8_t *hdr = NULL;
    if (cbits >= QCOW2_MIN_CLUSTER_BITS && cbits <= QCOW2_MAX_CLUSTER_BITS) {
        hlen = (uint64_t)flen < (1ull << cbits) ? (size_t)flen : (size_t)1 << cbits;
        hdr = malloc(hlen);
        if (!hdr)
            return err_set(ENOMEM, "out of memory");
        if ((ret = blk_pread(fc->node, 0, hdr, hlen)) < 0) {
            free(hdr);
            return ret;
        }
    }
    ret = qcow2_parse_header(bs, hdr ? hdr : first, hlen, s->file_len);
    free(hdr);
    if (ret < 0)
        return ret;
    bs->request_alignment = 1;
    bs->cluster_size = s->cluster_size;
    if (!bs->read_only && (s->incompat & QCOW2_INCOMPAT_CORRUPT))
        return err_set(EACCES, "qcow2: Image is corrupt; cannot be opened read/write");

    int l2n = (int)((4u << 20) / s->cluster_size);
    l2n = l2n < 4 ? 4 : l2n > 64 ? 64 : l2n;
    if ((ret = qcow2_cache_init(&s->l2_cache, l2n, s->cluster_size)) < 0 ||
        (ret = qcow2_cache_init(&s->rb_cache, 4, s->cluster_size)) < 0)
        return ret;
    s->cbuf = malloc(s->cluster_size);
    if (!s->cbuf)
        return err_set(ENOMEM, "out of memory");
    if ((ret = read_l1(bs)) < 0 || (ret = qcow2_refcount_init(bs)) < 0)
        return ret;
    s->free_hint = 0;

    if (backing_depth >= 32)
        return err_set(ELOOP, "backing chain too deep");
    struct stat st;
    if (stat(bs->filename, &st) == 0) {
        chain_ids[backing_depth].dev = st.st_dev;
        chain_ids[backing_depth].ino = st.st_ino;
    } else {
        chain_ids[backing_depth].dev = 0;
        chain_ids[backing_depth].ino = 0;
    }
    backing_depth++;
    ret = open_backing(bs, opts, flags);
    backing_depth--;
    if (ret < 0)
        return ret;

    /* Persistent bitmaps become the node's dirty bitmaps (qcow2_bitmap.c);
     * those flagged in use by a writer that did not close are inconsistent. */
    if ((ret = qcow2_bitmaps_load(bs)) < 0)
        return err_prefix(ret, "Could not load the image's bitmaps");

    if (!bs->read_only) {
        if (s->incompat & QCOW2_INCOMPAT_DIRTY) {
            /* Left dirty by a crash with lazy refcounts: repair, then clear. */
            BlockCheckResult r;
            ret = qcow2_check(bs, &r, BLK_FIX_LEAKS | BLK_FIX_ERRORS | BLK_CHECK_QUIET);
            if (ret == 0)
                ret = qcow2_check(bs, &r, BLK_CHECK_QUIET);
            if (ret < 0)
                return err_prefix(ret, "Could not repair dirty image");
            if (r.corruptions)
                return err_set(EIO, "Could not repair dirty image: %lld errors remain",
                               (long long)r.corruptions);
            uint8_t b[8];
            s->incompat &= ~QCOW2_INCOMPAT_DIRTY;
            be64_put(b, s->incompat);
            if ((ret = blk_flush(fc->node)) < 0 ||
                (ret = qcow2_write_header_field(bs, QH_INCOMPAT, b, 8)) < 0)
                return ret;
        }
        /* Persistent bitmaps stay, but as QEMU does while an image is open
         * for writing they are flagged in-use: they do not track our writes.
         * Other autoclear bits we do not maintain must go. */
        if ((s->autoclear & QCOW2_AUTOCLEAR_BITMAPS) && s->nb_bitmaps &&
            (ret = mark_bitmaps_in_use(bs)) < 0)
            return ret;
        uint64_t keep = s->autoclear & QCOW2_AUTOCLEAR_BITMAPS;
        if (s->autoclear != keep) {
            uint8_t b[8];
            s->autoclear = keep;
            be64_put(b, keep);
            if ((ret = qcow2_write_header_field(bs, QH_AUTOCLEAR, b, 8)) < 0)
                return ret;
        }
    }
    return 0;
}

static int64_t qcow2_getlength(BlockNode *bs)
{
    return (int64_t)((Qcow2State *)bs->opaque)->size;
}

static int qcow2_flush(BlockNode *bs)
{
    return blk_flush(bs->file->node);
}

int qcow2_grow(BlockNode *bs, uint64_t size)
{
    Qcow2State *s = bs->opaque;
    uint64_t per_l1 = (uint64_t)s->cluster_size << s->l2_bits;
    uint64_t need = (size + per_l1 - 1) / per_l1;
    if (need * 8 > QCOW2_MAX_L1_BYTES)
        return err_set(EFBIG, "Image size %llu needs an L1 table that is too large",
                       (unsigned long long)size);
    int ret = 0;
    if (need > s->l1_size) {
        uint64_t bytes = need * 8, clusters = (bytes + s->cluster_size - 1) >> s->cluster_bits;
        uint64_t new_off;
        uint8_t *buf = calloc(clusters, s->cluster_size);
        uint64_t *nl1 = calloc(need, 8);
        if (!buf || !nl1) {
            free(buf);
            free(nl1);
            return err_set(ENOMEM, "out of memory");
        }
        memcpy(nl1, s->l1, (size_t)s->l1_size * 8);
        for (uint64_t i = 0; i < need; i++)
            be64_put(buf + i * 8, nl1[i]);
        ret = qcow2_alloc_clusters(bs, clusters, &new_off);
        if (ret == 0)
            ret = blk_pwrite(bs->file->node, new_off, buf, clusters * s->cluster_size);
        if (ret == 0)
            ret = blk_flush(bs->file->node);
        uint8_t h[12];
        be32_put(h, (uint32_t)need);
        be64_put(h + 4, new_off);
        if (ret == 0)
            ret = qcow2_write_header_field(bs, QH_L1_SIZE, h, 12);
        if (ret == 0)
            ret = blk_flush(bs->file->node);
        free(buf);
        if (ret < 0) {
            free(nl1);
            return ret;
        }
        uint64_t old_off = s->l1_offset, old_bytes = (uint64_t)s->l1_size * 8;
        free(s->l1);
        s->l1 = nl1;
        s->l1_offset = new_off;
        s->l1_size = (uint32_t)need;
        if (old_bytes)
            ret = qcow2_free_range(bs, old_off, old_bytes, false);
        if (ret < 0)
            return ret;
    }
    uint8_t b[8];
    be64_put(b, size);
    ret = qcow2_write_header_field(bs, QH_SIZE, b, 8);
    if (ret == 0)
        s->size = size;
    return ret;
}

static int qcow2_truncate(BlockNode *bs, uint64_t size, bool shrink)
{
    Qcow2State *s = bs->opaque;
    if (s->corrupt_signalled || (s->incompat & QCOW2_INCOMPAT_CORRUPT))
        return err_set(EIO, "qcow2 image is marked corrupt: refusing to write");
    if (size % 512)
        return err_set(EINVAL, "The new size must be a multiple of 512");
    if (size < s->size && !shrink)
        return err_set(EINVAL, "Use the --shrink option to perform a shrink operation.");
    if (size < s->size && s->nb_snapshots)
        return err_set(ENOTSUP, "Can't shrink an image with internal snapshots");
    if (size < s->size && s->nb_bitmaps)
        return err_set(ENOTSUP, "Can't shrink an image which has bitmaps");
    pthread_rwlock_wrlock(&s->lock);
    int ret = size < s->size ? qcow2_shrink(bs, size) : qcow2_grow(bs, size);
    pthread_rwlock_unlock(&s->lock);
    return ret;
}

/* The internal snapshot list, as qemu-img info shows it.  Entries are
 * variable-sized; every length is bounded by the table's cluster range. */
static json_object *snapshot_list(BlockNode *bs)
{
    Qcow2State *s = bs->opaque;
    json_object *arr = json_object_new_array();
    uint64_t off = s->snapshots_offset;
    for (uint32_t i = 0; arr && i < s->nb_snapshots; i++) {
        uint8_t h[40], extra[24] = { 0 };
        char id[256], name[1024];
        if (blk_pread(bs->file->node, off, h, 40) < 0)
            break;
        uint16_t id_len = be16_get(h + 12), name_len = be16_get(h + 14);
        uint32_t extra_len = be32_get(h + 36);
        if (extra_len > 1024 || id_len >= sizeof(id) || name_len >= sizeof(name))
            break;
        if (blk_pread(bs->file->node, off + 40, extra, extra_len < 24 ? extra_len : 24) < 0 ||
            blk_pread(bs->file->node, off + 40 + extra_len, id, id_len) < 0 ||
            blk_pread(bs->file->node, off + 40 + extra_len + id_len, name, name_len) < 0)
            break;
        id[id_len] = '\0';
        name[name_len] = '\0';
        uint64_t vm_state = extra_len >= 8 ? be64_get(extra) : be32_get(h + 32);
        uint64_t clock = be64_get(h + 24);
        json_object *e = json_object_new_object();
        if (!e)
            break;
        if (extra_len >= 24 && be64_get(extra + 16) != UINT64_MAX)
            json_object_object_add(e, "icount", json_object_new_int64((int64_t)be64_get(extra + 16)));
        json_object_object_add(e, "vm-clock-nsec", json_object_new_int64((int64_t)(clock % 1000000000)));
        json_object_object_add(e, "name", json_object_new_string(name));
        json_object_object_add(e, "date-sec", json_object_new_int64(be32_get(h + 16)));
        json_object_object_add(e, "date-nsec", json_object_new_int64(be32_get(h + 20)));
        json_object_object_add(e, "vm-clock-sec", json_object_new_int64((int64_t)(clock / 1000000000)));
        json_object_object_add(e, "id", json_object_new_string(id));
        json_object_object_add(e, "vm-state-size", json_object_new_int64((int64_t)vm_state));
        json_object_array_add(arr, e);
        off = (off + 40 + extra_len + id_len + name_len + 7) & ~7ull;
    }
    return arr;
}

static int qcow2_get_info(BlockNode *bs, json_object *info)
{
    Qcow2State *s = bs->opaque;
    if (s->nb_snapshots) {
        json_object *snaps = snapshot_list(bs);
        if (snaps)
            json_object_object_add(info, "snapshots", snaps);
    }
    json_object *fs = json_object_new_object(), *data = json_object_new_object();
    if (!fs || !data) {
        json_object_put(fs);
        json_object_put(data);
        return err_set(ENOMEM, "out of memory");
    }
    json_object_object_add(info, "cluster-size", json_object_new_int64(s->cluster_size));
    json_object_object_add(data, "compat", json_object_new_string(s->version >= 3 ? "1.1" : "0.10"));
    json_object_object_add(data, "compression-type",
                           json_object_new_string(s->compression_type == QCOW2_COMP_ZSTD ? "zstd" : "zlib"));
    if (s->version >= 3)
        json_object_object_add(data, "lazy-refcounts",
                               json_object_new_boolean(!!(s->compat & QCOW2_COMPAT_LAZY_REFCOUNTS)));
    json_object_object_add(data, "refcount-bits", json_object_new_int((int)s->refcount_bits));
    if (s->version >= 3) {
        json_object_object_add(data, "corrupt",
                               json_object_new_boolean(!!(s->incompat & QCOW2_INCOMPAT_CORRUPT)));
        json_object_object_add(data, "extended-l2", json_object_new_boolean(0));
    }
    json_object_object_add(fs, "type", json_object_new_string("qcow2"));
    json_object_object_add(fs, "data", data);
    json_object_object_add(info, "format-specific", fs);
    json_object_object_add(info, "dirty-flag",
                           json_object_new_boolean(!!(s->incompat & QCOW2_INCOMPAT_DIRTY)));
    return 0;
}

static void qcow2_child_perm(BlockNode *bs, BlockRole role, unsigned parent_perm,
                             unsigned parent_shared, unsigned *perm, unsigned *shared)
{
    (void)parent_perm;
    if (role == BLK_ROLE_BACKING) {
        *perm = BLK_PERM_CONSISTENT_READ;
        *shared = BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED | BLK_PERM_RESIZE;
        /* As QEMU's default COW permissions: if our users accept changing
         * data, so do we from the backing node.  The fleecing overlay
         * (backing = the live disk a device writes) depends on it. */
        if (parent_shared & BLK_PERM_WRITE)
            *shared |= BLK_PERM_WRITE;
        return;
    }
    /* Metadata lives in the file: nobody else may write or resize it. */
    *perm = BLK_PERM_CONSISTENT_READ;
    if (!bs->read_only)
        *perm |= BLK_PERM_WRITE | BLK_PERM_RESIZE;
    *shared = BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED;
}

static BlockDriver qcow2_driver = {
    .name = "qcow2",
    .state_size = sizeof(Qcow2State),
    .is_format = true,
    .supports_backing = true,
    .probe = qcow2_probe,
    .open = qcow2_open,
    .close = qcow2_close,
    .preadv = qcow2_preadv,
    .pwritev = qcow2_pwritev,
    .flush = qcow2_flush,
    .discard = qcow2_discard,
    .write_zeroes = qcow2_write_zeroes,
    .pwrite_compressed = qcow2_pwrite_compressed,
    .aio_submit = qcow2_aio_submit,
    .block_status = qcow2_block_status,
    .truncate = qcow2_truncate,
    .getlength = qcow2_getlength,
    .get_info = qcow2_get_info,
    .check = qcow2_check,
    .create = qcow2_create,
    .child_perm = qcow2_child_perm,
};
BLOCK_DRIVER_REGISTER(qcow2_driver)
