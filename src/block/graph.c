/* Nodes, edges, permissions, reference counting and the driver registry. */
#include "block/node.h"
#include "block/blockdev_opts.h"
#include "block/dirty_bitmap.h"
#include "util/error.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_DRIVERS 32

static const BlockDriver *drivers[MAX_DRIVERS];
static int ndrivers;

/* Graph changes come from the monitor, tools and job completion; one lock keeps
 * the node list and edges consistent.  I/O does not take it. */
static pthread_mutex_t graph_lock = PTHREAD_MUTEX_INITIALIZER;
static BlockNode *all_nodes;
static unsigned auto_name_counter;

void blk_driver_register(const BlockDriver *drv)
{
    if (ndrivers < MAX_DRIVERS)
        drivers[ndrivers++] = drv;
}

const BlockDriver *blk_driver_find(const char *name)
{
    for (int i = 0; i < ndrivers; i++)
        if (!strcmp(drivers[i]->name, name))
            return drivers[i];
    return NULL;
}

const char *blk_perm_name(unsigned bit)
{
    switch (bit) {
    case BLK_PERM_CONSISTENT_READ: return "consistent read";
    case BLK_PERM_WRITE: return "write";
    case BLK_PERM_WRITE_UNCHANGED: return "write unchanged";
    case BLK_PERM_RESIZE: return "resize";
    default: return "?";
    }
}

static void perm_names(unsigned perm, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (unsigned b = 1; b <= BLK_PERM_RESIZE; b <<= 1) {
        if (!(perm & b))
            continue;
        size_t n = strlen(buf);
        snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", blk_perm_name(b));
    }
}

BlockNode *blk_find_node(const char *name)
{
    pthread_mutex_lock(&graph_lock);
    BlockNode *bs = all_nodes;
    while (bs && strcmp(bs->node_name, name))
        bs = bs->next_node;
    pthread_mutex_unlock(&graph_lock);
    return bs;
}

BlockNode *blk_next_node(BlockNode *bs)
{
    pthread_mutex_lock(&graph_lock);
    BlockNode *n = bs ? bs->next_node : all_nodes;
    pthread_mutex_unlock(&graph_lock);
    return n;
}

void blk_node_perms(BlockNode *bs, unsigned *perm, unsigned *shared)
{
    unsigned p = 0, s = BLK_PERM_ALL;
    for (BlockChild *c = bs->parents; c; c = c->next_parent) {
        p |= c->perm;
        s &= c->shared;
    }
    *perm = p;
    *shared = s;
}

static const char *user_name(const BlockChild *c)
{
    return c->parent ? c->parent->node_name : c->name;
}

static int refresh_perm(BlockNode *bs)
{
    if (!bs->drv->set_perm)
        return 0;
    unsigned p, s;
    blk_node_perms(bs, &p, &s);
    return bs->drv->set_perm(bs, p, s);
}

/* Edges changed while propagating permissions, for rollback. */
typedef struct PermUndo {
    BlockChild *c[64];
    unsigned perm[64], shared[64];
    int n;
} PermUndo;

static void child_perms(BlockNode *bs, BlockRole role, unsigned *perm, unsigned *shared)
{
    unsigned pp, ps;
    blk_node_perms(bs, &pp, &ps);
    *perm = BLK_PERM_CONSISTENT_READ;
    *shared = BLK_PERM_ALL;
    if (bs->drv->child_perm)
        bs->drv->child_perm(bs, role, pp, ps, perm, shared);
    if (bs->open_flags & BLK_O_FORCE_SHARE) {
        *perm &= ~(BLK_PERM_WRITE | BLK_PERM_RESIZE);
        *shared = BLK_PERM_ALL;
    }
}

/* Conflicts of (perm, shared) with the node's users other than `self`. */
static int check_perm_except(BlockNode *bs, BlockChild *self, unsigned perm, unsigned shared)
{
    char names[128];
    if ((perm & (BLK_PERM_WRITE | BLK_PERM_RESIZE)) && bs->read_only)
        return err_set(EPERM, "Block node '%s' is read-only", bs->node_name);
    for (BlockChild *c = bs->parents; c; c = c->next_parent) {
        if (c == self)
            continue;
        unsigned bad = perm & ~c->shared;
        if (bad) {
            perm_names(bad, names, sizeof(names));
            return err_set(EPERM, "Conflicts with use by %s as '%s', which does not allow '%s' on %s",
                           user_name(c), c->name, names, bs->node_name);
        }
        bad = c->perm & ~shared;
        if (bad) {
            perm_names(bad, names, sizeof(names));
            return err_set(EPERM, "Conflicts with use by %s as '%s', which uses '%s' on %s",
                           user_name(c), c->name, names, bs->node_name);
        }
    }
    return 0;
}

/* After bs's users changed, recomputes the edges to its children (and on
 * down), checking each against the child's other users and retaking locks. */
static int update_children(BlockNode *bs, PermUndo *u, int depth)
{
    if (depth > 64)
        return err_set(ELOOP, "block graph too deep");
    for (BlockChild *c = bs->children; c; c = c->next_child) {
        unsigned p, sh;
        child_perms(bs, c->role, &p, &sh);
        if (p == c->perm && sh == c->shared)
            continue;
        int ret = check_perm_except(c->node, c, p, sh);
        if (ret < 0)
            return ret;
        if (u->n == 64)
            return err_set(E2BIG, "permission update touches too many edges");
        u->c[u->n] = c;
        u->perm[u->n] = c->perm;
        u->shared[u->n] = c->shared;
        u->n++;
        c->perm = p;
        c->shared = sh;
        if ((ret = refresh_perm(c->node)) < 0 || (ret = update_children(c->node, u, depth + 1)) < 0)
            return ret;
    }
    return 0;
}

static void undo_perms(PermUndo *u)
{
    while (u->n > 0) {
        u->n--;
        BlockChild *c = u->c[u->n];
        c->perm = u->perm[u->n];
        c->shared = u->shared[u->n];
        refresh_perm(c->node);
    }
}

static int attach(BlockNode *parent, BlockNode *bs, const char *name, BlockRole role,
                  unsigned perm, unsigned shared, BlockChild **out)
{
    BlockChild *c = calloc(1, sizeof(*c));
    if (!c || !(c->name = strdup(name))) {
        free(c);
        return err_set(ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&graph_lock);
    int ret = check_perm_except(bs, NULL, perm, shared);
    if (ret < 0) {
        pthread_mutex_unlock(&graph_lock);
        free(c->name);
        free(c);
        return ret;
    }
    c->role = role;
    c->parent = parent;
    c->node = bs;
    c->perm = perm;
    c->shared = shared;
    c->next_parent = bs->parents;
    bs->parents = c;
    PermUndo undo = { .n = 0 };
    ret = refresh_perm(bs);
    if (ret == 0)
        ret = update_children(bs, &undo, 0);
    if (ret < 0) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        undo_perms(&undo);
        bs->parents = c->next_parent;
        refresh_perm(bs);
        pthread_mutex_unlock(&graph_lock);
        free(c->name);
        free(c);
        return err_set(-ret, "%s", msg);
    }
    if (parent) {
        BlockChild **pp = &parent->children;
        while (*pp)
            pp = &(*pp)->next_child;
        *pp = c;
        if (role == BLK_ROLE_FILE && !parent->file)
            parent->file = c;
        if (role == BLK_ROLE_BACKING && !parent->backing)
            parent->backing = c;
    }
    bs->refcnt++;
    pthread_mutex_unlock(&graph_lock);
    *out = c;
    return 0;
}

static void detach(BlockChild *c)
{
    BlockNode *bs = c->node;
    pthread_mutex_lock(&graph_lock);
    for (BlockChild **pp = &bs->parents; *pp; pp = &(*pp)->next_parent) {
        if (*pp == c) {
            *pp = c->next_parent;
            break;
        }
    }
    if (c->parent) {
        BlockNode *p = c->parent;
        for (BlockChild **pp = &p->children; *pp; pp = &(*pp)->next_child) {
            if (*pp == c) {
                *pp = c->next_child;
                break;
            }
        }
        if (p->file == c)
            p->file = NULL;
        if (p->backing == c)
            p->backing = NULL;
    }
    refresh_perm(bs);
    /* Fewer users: the edges below can only relax, which cannot conflict. */
    PermUndo undo = { .n = 0 };
    update_children(bs, &undo, 0);
    pthread_mutex_unlock(&graph_lock);
    free(c->name);
    free(c);
    blk_unref(bs);
}

int blk_attach_child(BlockNode *parent, BlockNode *child, const char *name, BlockRole role,
                     BlockChild **out)
{
    unsigned perm, shared;
    pthread_mutex_lock(&graph_lock);
    child_perms(parent, role, &perm, &shared);
    pthread_mutex_unlock(&graph_lock);
    for (BlockNode *p = parent; p; p = p->parents ? p->parents->parent : NULL)
        if (p == child)
            return err_set(EINVAL, "Making '%s' a child of '%s' would create a cycle",
                           child->node_name, parent->node_name);
    int ret = attach(parent, child, name, role, perm, shared, out);
    if (ret < 0)
        return err_prefix(ret, "Could not open '%s' as child '%s' of '%s'",
                          child->node_name, name, parent->node_name);
    return 0;
}

void blk_detach_child(BlockChild *c)
{
    detach(c);
}

int blk_root_attach(BlockNode *bs, const char *user, unsigned perm, unsigned shared,
                    BlockChild **out)
{
    return attach(NULL, bs, user, BLK_ROLE_ROOT, perm, shared, out);
}

void blk_root_detach(BlockChild *c)
{
    detach(c);
}

/* Filter insertion/removal (jobs, QMP): edges keep their identity (devices
 * and parents hold BlockChild pointers) and only change the node they point
 * at.  In-flight requests finish on the old node first; requests submitted
 * afterwards see the new one. */
/* Is `n` reachable from `top` through children?  Edges from such nodes to
 * `from` stay (QEMU's should_update_child): moving them would make a cycle,
 * e.g. the fleecing overlay whose backing is the node a filter goes above. */
static bool below(BlockNode *top, BlockNode *n, int depth)
{
    if (top == n)
        return true;
    if (depth > 64)
        return false;
    for (BlockChild *c = top->children; c; c = c->next_child)
        if (below(c->node, n, depth + 1))
            return true;
    return false;
}

int blk_replace_node(BlockNode *from, BlockNode *to)
{
    if (from == to)
        return 0;
    blk_drain(from);
    blk_drain(to);
    pthread_mutex_lock(&graph_lock);
    for (BlockChild *c = from->parents; c; c = c->next_parent) {
        if (c->parent && below(to, c->parent, 0))
            continue;
        for (BlockChild *o = to->parents; o; o = o->next_parent) {
            /* A filter's own edge onto `to` relaxes once the filter has
             * lost its parents (removal), so it does not count. */
            if (o->parent == from)
                continue;
            if ((c->perm & ~o->shared) || (o->perm & ~c->shared)) {
                pthread_mutex_unlock(&graph_lock);
                return err_set(EPERM, "Conflicts with use by %s as '%s' on %s",
                               user_name(o), o->name, to->node_name);
            }
        }
        if ((c->perm & (BLK_PERM_WRITE | BLK_PERM_RESIZE)) && to->read_only) {
            pthread_mutex_unlock(&graph_lock);
            return err_set(EPERM, "Block node '%s' is read-only", to->node_name);
        }
    }
    int moved = 0;
    for (BlockChild **pp = &from->parents; *pp;) {
        BlockChild *c = *pp;
        if (c->parent && below(to, c->parent, 0)) {
            pp = &c->next_parent;
            continue;
        }
        *pp = c->next_parent;
        c->node = to;
        c->next_parent = to->parents;
        to->parents = c;
        to->refcnt++;
        moved++;
    }
    refresh_perm(to);
    refresh_perm(from);
    /* Filters pass their users' needs down: recompute below both nodes. */
    PermUndo undo = { .n = 0 };
    update_children(to, &undo, 0);
    undo.n = 0;
    update_children(from, &undo, 0);
    pthread_mutex_unlock(&graph_lock);
    /* The references the edges held move with them. */
    while (moved-- > 0)
        blk_unref(from);
    return 0;
}

void blk_ref(BlockNode *bs)
{
    pthread_mutex_lock(&graph_lock);
    bs->refcnt++;
    pthread_mutex_unlock(&graph_lock);
}

static void node_free(BlockNode *bs)
{
    blk_drain(bs);
    if (bs->drv->close)
        bs->drv->close(bs);     /* may store persistent bitmaps first */
    dbm_release_all(bs);        /* in-memory bitmaps die with their node */
    while (bs->children)
        detach(bs->children);
    pthread_mutex_lock(&graph_lock);
    for (BlockNode **pp = &all_nodes; *pp; pp = &(*pp)->next_node) {
        if (*pp == bs) {
            *pp = bs->next_node;
            break;
        }
    }
    pthread_mutex_unlock(&graph_lock);
    if (bs->options)
        json_object_put(bs->options);
    pthread_mutex_destroy(&bs->inflight_lock);
    pthread_cond_destroy(&bs->inflight_cond);
    free(bs->opaque);
    free(bs->node_name);
    free(bs);
}

void blk_unref(BlockNode *bs)
{
    if (!bs)
        return;
    pthread_mutex_lock(&graph_lock);
    int r = --bs->refcnt;
    pthread_mutex_unlock(&graph_lock);
    if (r == 0)
        node_free(bs);
}

int blk_node_del(const char *name)
{
    BlockNode *bs = blk_find_node(name);
    if (!bs)
        return err_set(ENOENT, "Failed to find node with node-name='%s'", name);
    if (!bs->monitor_owned)
        return err_set(EINVAL, "Node %s is not owned by the monitor", name);
    if (bs->parents)
        return err_set(EBUSY, "Node '%s' is busy: node is used as %s by %s", name,
                       bs->parents->name, user_name(bs->parents));
    bs->monitor_owned = false;
    blk_unref(bs);
    return 0;
}

static bool valid_node_name(const char *n)
{
    if (!*n || strlen(n) > 31 || !((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= 'A' && n[0] <= 'Z')))
        return false;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.' || *p == '_'))
            return false;
    return true;
}

int blk_probe_format(const char *filename, const char **fmt)
{
    uint8_t buf[512];
    int fd = open(filename, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set_errno(errno, "Could not open '%s'", filename);
    ssize_t n = pread(fd, buf, sizeof(buf), 0);
    close(fd);
    if (n < 0)
        return err_set_errno(errno, "Could not read '%s'", filename);
    int best = 0;
    *fmt = "raw";
    for (int i = 0; i < ndrivers; i++) {
        if (!drivers[i]->probe)
            continue;
        int s = drivers[i]->probe(buf, (size_t)n);
        if (s > best) {
            best = s;
            *fmt = drivers[i]->name;
        }
    }
    return 0;
}

int blk_open(json_object *opts, int flags, BlockNode **out)
{
    const char *dname = bopt_str(opts, "driver");
    if (!dname)
        return err_set(EINVAL, "Parameter 'driver' is missing");
    if (!strcmp(dname, "probe")) {
        json_object *f;
        const char *fn = NULL;
        if (json_object_object_get_ex(opts, "file", &f))
            fn = bopt_str(f, "filename");
        if (!fn)
            return err_set(EINVAL, "cannot probe the format without a file name");
        int ret = blk_probe_format(fn, &dname);
        if (ret < 0)
            return ret;
    }
    const BlockDriver *drv = blk_driver_find(dname);
    if (!drv)
        return err_set(EINVAL, "Unknown driver '%s'", dname);
    bool ro;
    int ret = bopt_bool(opts, "read-only", !(flags & BLK_O_RDWR), &ro);
    if (ret < 0)
        return ret;
    flags = ro ? (flags & ~BLK_O_RDWR) : (flags | BLK_O_RDWR);
    bool force_share;
    if ((ret = bopt_bool(opts, "force-share", flags & BLK_O_FORCE_SHARE, &force_share)) < 0)
        return ret;
    if (force_share) {
        if (!ro)
            return err_set(EINVAL, "force-share=on can only be used with read-only images");
        flags |= BLK_O_FORCE_SHARE;
    }

    const char *name = bopt_str(opts, "node-name");
    if (name && !valid_node_name(name))
        return err_set(EINVAL, "Invalid node-name: '%s'", name);
    if (name && blk_find_node(name))
        return err_set(EEXIST, "Duplicate nodes with node-name='%s'", name);

    BlockNode *bs = calloc(1, sizeof(*bs));
    if (!bs)
        return err_set(ENOMEM, "out of memory");
    if (drv->state_size && !(bs->opaque = calloc(1, drv->state_size))) {
        free(bs);
        return err_set(ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&graph_lock);
    if (name) {
        bs->node_name = strdup(name);
    } else {
        char buf[32];
        snprintf(buf, sizeof(buf), "#block%03u", auto_name_counter++);
        bs->node_name = strdup(buf);
        bs->auto_named = true;
    }
    pthread_mutex_unlock(&graph_lock);
    if (!bs->node_name) {
        free(bs->opaque);
        free(bs);
        return err_set(ENOMEM, "out of memory");
    }
    bs->drv = drv;
    bs->read_only = ro;
    bs->open_flags = flags;
    bs->refcnt = 1;
    bs->request_alignment = 1;
    bs->options = json_object_get(opts);
    pthread_mutex_init(&bs->inflight_lock, NULL);
    pthread_cond_init(&bs->inflight_cond, NULL);

    ret = drv->open(bs, opts, flags);
    if (ret < 0) {
        if (drv->close)
            drv->close(bs);
        dbm_release_all(bs);
        while (bs->children)
            detach(bs->children);
        json_object_put(bs->options);
        pthread_mutex_destroy(&bs->inflight_lock);
        pthread_cond_destroy(&bs->inflight_cond);
        free(bs->opaque);
        free(bs->node_name);
        free(bs);
        return ret;
    }
    pthread_mutex_lock(&graph_lock);
    BlockNode **pp = &all_nodes;
    while (*pp)
        pp = &(*pp)->next_node;
    *pp = bs;
    pthread_mutex_unlock(&graph_lock);
    *out = bs;
    return 0;
}

int blk_open_child(BlockNode *parent, json_object *opts, const char *key, BlockRole role,
                   int flags, bool optional, BlockChild **out)
{
    json_object *v;
    *out = NULL;
    if (!json_object_object_get_ex(opts, key, &v) || json_object_is_type(v, json_type_null)) {
        if (optional)
            return 0;
        return err_set(EINVAL, "A block device must be specified for \"%s\"", key);
    }
    BlockNode *child;
    if (json_object_is_type(v, json_type_string)) {
        child = blk_find_node(json_object_get_string(v));
        if (!child)
            return err_set(ENOENT, "Cannot find device='' nor node-name='%s'",
                           json_object_get_string(v));
        blk_ref(child);
    } else if (json_object_is_type(v, json_type_object)) {
        int cflags = flags;
        if (role == BLK_ROLE_BACKING)
            cflags &= ~BLK_O_RDWR;
        json_object *ro;
        if (!(cflags & BLK_O_RDWR) && !json_object_object_get_ex(v, "read-only", &ro))
            json_object_object_add(v, "read-only", json_object_new_boolean(1));
        int ret = blk_open(v, cflags, &child);
        if (ret < 0)
            return ret;
    } else {
        return err_set(EINVAL, "Invalid parameter type for '%s', expected: BlockdevRef", key);
    }
    int ret = blk_attach_child(parent, child, key, role, out);
    blk_unref(child);
    return ret;
}

int blk_open_image(const char *filename, const char *fmt, int flags, BlockNode **out)
{
    if (!fmt) {
        int ret = blk_probe_format(filename, &fmt);
        if (ret < 0)
            return ret;
    }
    json_object *o = json_object_new_object(), *f = json_object_new_object();
    if (!o || !f) {
        json_object_put(o);
        json_object_put(f);
        return err_set(ENOMEM, "out of memory");
    }
    json_object_object_add(f, "driver", json_object_new_string("file"));
    json_object_object_add(f, "filename", json_object_new_string(filename));
    json_object_object_add(o, "driver", json_object_new_string(fmt));
    json_object_object_add(o, "file", f);
    int ret = blk_open(o, flags, out);
    json_object_put(o);
    return ret;
}

int blk_create(const char *fmt, const char *filename, const BlockCreateOpts *o)
{
    const BlockDriver *drv = blk_driver_find(fmt);
    if (!drv)
        return err_set(EINVAL, "Unknown file format '%s'", fmt);
    if (!drv->create)
        return err_set(ENOTSUP, "Format driver '%s' does not support image creation", fmt);
    return drv->create(filename, o);
}
