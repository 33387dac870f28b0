/* qcow2 header and header-extension parsing.  Every field is untrusted: sizes
 * and offsets are checked against the file length, sane limits and each
 * other before anything is read through them.  Nothing here writes. */
#include "block/qcow2.h"
#include "util/error.h"

#include <stdio.h>
#include <string.h>

static int check_table(const char *what, uint64_t off, uint64_t bytes, uint64_t cs,
                       uint64_t file_len)
{
    if (off & (cs - 1))
        return err_set(EINVAL, "%s offset %#llx is not cluster aligned", what,
                       (unsigned long long)off);
    if (off > file_len || bytes > file_len - off)
        return err_set(EINVAL, "%s [%#llx, +%llu) lies beyond the end of the file (%llu bytes)",
                       what, (unsigned long long)off, (unsigned long long)bytes,
                       (unsigned long long)file_len);
    return 0;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}

static void feature_names(const uint8_t *tbl, size_t n, uint64_t bits, char *out, size_t cap)
{
    out[0] = '\0';
    for (int bit = 0; bit < 64; bit++) {
        if (!(bits & (1ull << bit)))
            continue;
        char name[48] = "";
        for (size_t i = 0; tbl && i < n; i++) {
            const uint8_t *e = tbl + i * 48;
            if (e[0] == 0 && e[1] == bit) {
                memcpy(name, e + 2, 46);
                name[46] = '\0';
            }
        }
        size_t len = strlen(out);
        if (name[0])
            snprintf(out + len, cap - len, "%s%s", len ? ", " : "", name);
        else
            snprintf(out + len, cap - len, "%sUnknown incompatible feature: %llx", len ? ", " : "",
                     1ull << bit);
    }
}

static int parse_extensions(BlockNode *bs, const uint8_t *hdr, size_t start, size_t end,
                            const uint8_t **ftable, size_t *nfeat)
{
    Qcow2State *s = bs->opaque;
    size_t off = start;
    *ftable = NULL;
    *nfeat = 0;
    while (off + 8 <= end) {
        uint32_t type = be32_get(hdr + off), len = be32_get(hdr + off + 4);
        off += 8;
        if (type == QCOW2_EXT_END)
            return 0;
        if (len > end - off)
            return err_set(EINVAL, "qcow2 header extension %#x overflows the header cluster", type);
        const uint8_t *d = hdr + off;
        switch (type) {
        case QCOW2_EXT_BACKING_FMT:
            if (len >= sizeof(bs->backing_fmt))
                return err_set(EINVAL, "backing format name too long (%u bytes)", len);
            memcpy(bs->backing_fmt, d, len);
            bs->backing_fmt[len] = '\0';
            break;
        case QCOW2_EXT_FEATURE_TABLE:
            *ftable = d;
            *nfeat = len / 48;
            break;
        case QCOW2_EXT_BITMAPS:
            if (len < 24)
                return err_set(EINVAL, "bitmaps extension too short");
            s->nb_bitmaps = be32_get(d);
            s->bitmap_dir_size = be64_get(d + 8);
            s->bitmap_dir_offset = be64_get(d + 16);
            break;
        case QCOW2_EXT_CRYPTO:
            return err_set(ENOTSUP, "encrypted qcow2 images are not supported");
        case QCOW2_EXT_DATA_FILE:
            break;  /* the incompatible bit refuses the image */
        default:
            break;  /* unknown extensions are ignored and kept */
        }
        off += (len + 7u) & ~7u;
    }
    return 0;
}

int qcow2_parse_header(BlockNode *bs, const uint8_t *hdr, size_t hdr_len, uint64_t file_len)
{
    Qcow2State *s = bs->opaque;
    if (hdr_len < 72)
        return err_set(EINVAL, "qcow2 header truncated (%zu bytes)", hdr_len);
    if (be32_get(hdr) != QCOW2_MAGIC)
        return err_set(EINVAL, "Image is not in qcow2 format");
    s->version = be32_get(hdr + 4);
    if (s->version != 2 && s->version != 3)
        return err_set(ENOTSUP, "Unsupported qcow2 version %u", s->version);
    s->cluster_bits = be32_get(hdr + 20);
    if (s->cluster_bits < QCOW2_MIN_CLUSTER_BITS || s->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
        return err_set(EINVAL, "Unsupported cluster size: 2^%u", s->cluster_bits);
    s->cluster_size = 1u << s->cluster_bits;
    uint64_t cs = s->cluster_size;
    if (s->version == 3) {
        if (hdr_len < QCOW2_HEADER_V3_LEN)
            return err_set(EINVAL, "qcow2 header truncated (%zu bytes)", hdr_len);
        s->incompat = be64_get(hdr + 72);
        s->compat = be64_get(hdr + 80);
        s->autoclear = be64_get(hdr + 88);
        s->refcount_order = be32_get(hdr + 96);
        s->header_length = be32_get(hdr + 100);
        if (s->header_length < QCOW2_HEADER_V3_LEN)
            return err_set(EINVAL, "qcow2 header too short");
        if (s->header_length > cs || s->header_length > hdr_len)
            return err_set(EINVAL, "qcow2 header exceeds cluster size");
    } else {
        s->incompat = s->compat = s->autoclear = 0;
        s->refcount_order = 4;
        s->header_length = 72;
    }
    if (s->refcount_order > 6)
        return err_set(EINVAL, "Reference count entry width too large; may not exceed 64 bits");
    s->refcount_bits = 1u << s->refcount_order;
    s->refcount_max = s->refcount_bits == 64 ? UINT64_MAX : (1ull << s->refcount_bits) - 1;
    if (be32_get(hdr + 32) != 0)
        return err_set(ENOTSUP, "encrypted qcow2 images are not supported");

    s->compression_type = QCOW2_COMP_ZLIB;
    if (s->header_length > 104)
        s->compression_type = hdr[104];
    if (s->incompat & QCOW2_INCOMPAT_COMPRESSION) {
        if (s->header_length <= 104 || s->compression_type != QCOW2_COMP_ZSTD)
            return err_set(EINVAL, "Unknown compression type %u", s->compression_type);
    } else if (s->compression_type != QCOW2_COMP_ZLIB) {
        return err_set(EINVAL, "compression_type field is %u but the compression type bit is not set",
                       s->compression_type);
    }

    /* Backing file name */
    uint64_t bf_off = be64_get(hdr + 8);
    uint32_t bf_len = be32_get(hdr + 16);
    size_t ext_end = hdr_len < cs ? hdr_len : cs;
    if (bf_off) {
        if (bf_len == 0 || bf_len > 1023 || bf_off > cs || bf_len > cs - bf_off ||
            bf_off + bf_len > hdr_len)
            return err_set(EINVAL, "Backing file name invalid or too long");
        if (bf_off < s->header_length)
            return err_set(EINVAL, "Backing file name overlaps the header");
        memcpy(bs->backing_file, hdr + bf_off, bf_len);
        bs->backing_file[bf_len] = '\0';
        if (strlen(bs->backing_file) != bf_len)
            return err_set(EINVAL, "Backing file name contains a NUL byte");
        if (bf_off < ext_end)
            ext_end = (size_t)bf_off;
    }

    const uint8_t *ftable;
    size_t nfeat;
    if (s->version == 3) {
        int ret = parse_extensions(bs, hdr, s->header_length, ext_end, &ftable, &nfeat);
        if (ret < 0)
            return ret;
    } else {
        int ret = parse_extensions(bs, hdr, 72, ext_end, &ftable, &nfeat);
        if (ret < 0)
            return ret;
    }
    uint64_t unknown = s->incompat & ~QCOW2_INCOMPAT_KNOWN;
    if (unknown) {
        char names[512];
        feature_names(ftable, nfeat, unknown, names, sizeof(names));
        return err_set(ENOTSUP, "Unsupported qcow2 feature(s): %s", names);
    }
    if (s->incompat & QCOW2_INCOMPAT_EXTL2)
        return err_set(ENOTSUP, "Unsupported qcow2 feature(s): extended L2 entries "
                       "(subclusters) are not supported");
    if (s->incompat & QCOW2_INCOMPAT_DATA_FILE)
        return err_set(ENOTSUP, "Unsupported qcow2 feature(s): external data files are not supported");

    s->size = be64_get(hdr + QH_SIZE);
    s->l2_bits = s->cluster_bits - 3;
    s->l2_entries = 1u << s->l2_bits;
    s->rb_bits = s->cluster_bits + 3 - s->refcount_order;
    s->csize_shift = 62 - (s->cluster_bits - 8);
    s->csize_mask = (1ull << (s->cluster_bits - 8)) - 1;
    s->cluster_offset_mask = (1ull << s->csize_shift) - 1;

    if (s->size > (1ull << 62))
        return err_set(EINVAL, "Image size too large: %llu", (unsigned long long)s->size);
    s->l1_size = be32_get(hdr + QH_L1_SIZE);
    s->l1_offset = be64_get(hdr + QH_L1_OFFSET);
    if ((uint64_t)s->l1_size * 8 > QCOW2_MAX_L1_BYTES)
        return err_set(EFBIG, "Active L1 table too large (%u entries)", s->l1_size);
    uint64_t per_l1 = (uint64_t)cs << s->l2_bits;
    uint64_t need_l1 = (s->size + per_l1 - 1) / per_l1;
    if (s->l1_size < need_l1)
        return err_set(EINVAL, "L1 table is too small (%u entries for %llu bytes)", s->l1_size,
                       (unsigned long long)s->size);
    if (s->l1_size) {
        int ret = check_table("L1 table", s->l1_offset, (uint64_t)s->l1_size * 8, cs, file_len);
        if (ret < 0)
            return ret;
        if (s->l1_offset < cs)
            return err_set(EINVAL, "L1 table overlaps the image header");
    }

    s->reftable_offset = be64_get(hdr + QH_REFTABLE_OFFSET);
    s->reftable_clusters = be32_get(hdr + 56);
    if ((uint64_t)s->reftable_clusters * cs > QCOW2_MAX_REFTABLE_BYTES)
        return err_set(EFBIG, "Reference count table too large (%u clusters)", s->reftable_clusters);
    if (s->reftable_clusters == 0)
        return err_set(EINVAL, "Image has no reference count table");
    s->reftable_size = (uint64_t)s->reftable_clusters * cs / 8;
    int ret = check_table("Reference count table", s->reftable_offset,
                          (uint64_t)s->reftable_clusters * cs, cs, file_len);
    if (ret < 0)
        return ret;
    if (s->reftable_offset < cs)
        return err_set(EINVAL, "Reference count table overlaps the image header");
    if (ranges_overlap(s->reftable_offset, (uint64_t)s->reftable_clusters * cs,
                       s->l1_offset, (uint64_t)s->l1_size * 8))
        return err_set(EINVAL, "Reference count table overlaps the L1 table");

    s->nb_snapshots = be32_get(hdr + 60);
    s->snapshots_offset = be64_get(hdr + 64);
    if (s->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
        return err_set(EFBIG, "Too many snapshots (%u)", s->nb_snapshots);
    if (s->nb_snapshots) {
        ret = check_table("Snapshot table", s->snapshots_offset, (uint64_t)s->nb_snapshots * 40,
                          cs, file_len);
        if (ret < 0)
            return ret;
    }
    if (s->nb_bitmaps && (s->autoclear & QCOW2_AUTOCLEAR_BITMAPS)) {
        if (s->bitmap_dir_size > (64u << 20))
            return err_set(EFBIG, "Bitmap directory too large");
        ret = check_table("Bitmap directory", s->bitmap_dir_offset, s->bitmap_dir_size, cs, file_len);
        if (ret < 0)
            return ret;
    }
    return 0;
}
