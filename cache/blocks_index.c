/* blocks_index.c — the in-memory index of the content cache: a hash table
 * of objects by key and the LRU list that picks eviction victims.  Every
 * function here runs with bc->mu held (see blocks_i.h). */
#include "blocks_i.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t key_hash(const char *key, size_t nbuckets)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return (size_t)(h & (nbuckets - 1));
}

struct bobj *bobj_new(const char *key, uint64_t size)
{
    size_t klen = strlen(key);
    if (klen > BLOCKS_KEY_MAX)
        return NULL;
    struct bobj *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    memcpy(o->key, key, klen + 1);
    o->size = size;
    o->nblocks = size / BLOCKS_SIZE + (size % BLOCKS_SIZE != 0);
    o->bits = calloc(o->nblocks / 8 + 1, 1);
    if (!o->bits) {
        free(o);
        return NULL;
    }
    return o;
}

void bobj_free(struct bobj *o)
{
    if (o) {
        free(o->bits);
        free(o);
    }
}

struct bobj *blocks_find(struct blocks *bc, const char *key)
{
    if (!bc->nbuckets)
        return NULL;
    for (struct bobj *o = bc->buckets[key_hash(key, bc->nbuckets)]; o; o = o->hnext)
        if (strcmp(o->key, key) == 0)
            return o;
    return NULL;
}

static int grow(struct blocks *bc)
{
    size_t n = bc->nbuckets ? bc->nbuckets * 2 : 256;
    struct bobj **b = calloc(n, sizeof(*b));
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < bc->nbuckets; i++) {
        struct bobj *o = bc->buckets[i];
        while (o) {
            struct bobj *next = o->hnext;
            size_t h = key_hash(o->key, n);
            o->hnext = b[h];
            b[h] = o;
            o = next;
        }
    }
    free(bc->buckets);
    bc->buckets = b;
    bc->nbuckets = n;
    return 0;
}

static void lru_unlink(struct blocks *bc, struct bobj *o)
{
    if (o->newer)
        o->newer->older = o->older;
    else
        bc->newest = o->older;
    if (o->older)
        o->older->newer = o->newer;
    else
        bc->oldest = o->newer;
    o->newer = o->older = NULL;
}

static void lru_push_newest(struct blocks *bc, struct bobj *o)
{
    o->newer = NULL;
    o->older = bc->newest;
    if (bc->newest)
        bc->newest->newer = o;
    bc->newest = o;
    if (!bc->oldest)
        bc->oldest = o;
}

int blocks_insert(struct blocks *bc, struct bobj *o)
{
    if (bc->count >= bc->nbuckets) {
        int rc = grow(bc);
        if (rc)
            return rc;
    }
    size_t h = key_hash(o->key, bc->nbuckets);
    o->hnext = bc->buckets[h];
    bc->buckets[h] = o;
    bc->count++;
    bc->used += o->bytes;
    lru_push_newest(bc, o);
    return 0;
}

void blocks_touch(struct blocks *bc, struct bobj *o)
{
    if (bc->newest != o) {
        lru_unlink(bc, o);
        lru_push_newest(bc, o);
    }
}

static void unhash(struct blocks *bc, struct bobj *o)
{
    struct bobj **pp = &bc->buckets[key_hash(o->key, bc->nbuckets)];
    while (*pp && *pp != o)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = o->hnext;
    o->hnext = NULL;
    bc->count--;
}

void blocks_remove(struct blocks *bc, struct bobj *o)
{
    char path[4200];
    if (blocks_path(bc, o->key, ".map", path, sizeof(path)) == 0 && unlink(path) != 0 &&
        errno != ENOENT)
        hm_warn("blocks: unlink %s: %s", path, strerror(errno));
    if (blocks_path(bc, o->key, "", path, sizeof(path)) == 0 && unlink(path) != 0 &&
        errno != ENOENT)
        hm_warn("blocks: unlink %s: %s", path, strerror(errno));
    unhash(bc, o);
    lru_unlink(bc, o);
    bc->used -= o->bytes;
    if (o->users)
        o->doomed = true;
    else
        bobj_free(o);
}

void blocks_release(struct blocks *bc, struct bobj *o)
{
    (void)bc;
    o->users--;
    if (o->doomed && o->users == 0)
        bobj_free(o);
}

int blocks_make_room(struct blocks *bc, uint64_t need, const struct bobj *keep)
{
    if (need > bc->max_bytes)
        return -ENOSPC;
    struct bobj *o = bc->oldest;
    while (bc->used + need > bc->max_bytes) {
        while (o && (o == keep || o->users))
            o = o->newer;
        if (!o)
            return -ENOSPC;
        struct bobj *next = o->newer;
        hm_debug("blocks: evicting %s (%llu bytes)", o->key, (unsigned long long)o->bytes);
        blocks_remove(bc, o);
        o = next;
    }
    return 0;
}

void blocks_index_free(struct blocks *bc)
{
    struct bobj *o = bc->newest;
    while (o) {
        struct bobj *next = o->older;
        bobj_free(o);
        o = next;
    }
    free(bc->buckets);
    bc->buckets = NULL;
    bc->newest = bc->oldest = NULL;
    bc->nbuckets = bc->count = 0;
}
