/* blocks_i.h — private to cache/blocks*.c: the in-memory index of cached
 * objects and the on-disk layout.
 *
 * On disk (DIR/objects/<key[0..1]>/):
 *   <key>       sparse data file, exactly the object's size
 *   <key>.map   header + bitmap of present BLOCKS_SIZE blocks (blocks_store.c)
 * The map is a file beside the data rather than a row in SQLite: a put is
 * then one pwrite of a bitmap byte (no transaction, no second lock), an
 * object is evicted by two unlinks, and a corrupt map costs one object, not
 * the cache.  The map file's mtime is the object's last access, so the LRU
 * order survives a restart.
 *
 * Locking: struct blocks has one mutex `mu`.  It protects the hash table,
 * the LRU list, `used`, and every field of every struct bobj (bits,
 * counters, flags, users).  Data-file pread/pwrite and hashing run WITHOUT
 * `mu`, on a file descriptor opened under `mu`, while the object is pinned
 * (users > 0): a pinned object is never chosen for LRU eviction, and an
 * explicit eviction of a pinned object unlinks its files but frees the
 * struct only when the last user leaves (doomed).  Map-file writes happen
 * under `mu` so bitmap bytes reach the disk in order.  No other lock is ever
 * taken while `mu` is held. */
#ifndef HUBMOUNT_BLOCKS_I_H
#define HUBMOUNT_BLOCKS_I_H

#include "blocks.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BLOCKS_KEY_MAX 128

struct bobj {
    char key[BLOCKS_KEY_MAX + 1];
    uint64_t size;     /* object size in bytes */
    uint64_t nblocks;  /* ceil(size / BLOCKS_SIZE) */
    uint8_t *bits;     /* nblocks bits, block i = bits[i/8] bit i%8 */
    uint64_t npresent; /* set bits */
    uint64_t bytes;    /* bytes covered by the set bits (counted in `used`) */
    bool verified;
    bool doomed;       /* unlinked and out of the index; free when users == 0 */
    unsigned users;    /* calls doing I/O on it outside mu */
    int64_t touched_on_disk; /* last time the map mtime was set (LRU persistence) */
    struct bobj *hnext;
    struct bobj *newer, *older; /* LRU list: bc->newest ... bc->oldest */
};

struct blocks {
    pthread_mutex_t mu;
    char objdir[4096]; /* DIR/objects */
    uint64_t max_bytes;
    uint64_t used; /* bytes of present blocks + reservations of running puts */
    struct bobj **buckets;
    size_t nbuckets, count;
    struct bobj *newest, *oldest;
};

/* blocks_store.c: layout and map files ------------------------------------ */
bool blocks_key_valid(const char *key);
/* DIR/objects/ab/<key><suffix>; -ENAMETOOLONG if it does not fit. */
int blocks_path(const struct blocks *bc, const char *key, const char *suffix, char *buf,
                size_t size);
/* mkdir DIR/objects/ab (0700) if missing. */
int blocks_mkdir_for(const struct blocks *bc, const char *key);
/* Writes a complete map file for o (via a temporary file + rename). */
int blocks_map_write(const struct blocks *bc, const struct bobj *o);
/* Persists map bytes covering blocks [first, last] of o to the open map fd. */
int blocks_map_store_bits(int fd, const struct bobj *o, uint64_t first, uint64_t last);
int blocks_map_store_verified(int fd, bool verified);
/* Loads every object under objdir into the index (oldest access first),
 * removing leftovers: temporary files, data without map, map without data. */
int blocks_scan(struct blocks *bc);

/* blocks.c: whole-range I/O on the cache's files ---------------------------- */
/* pread/pwrite of exactly len bytes at off (EINTR and short counts are
 * retried); 0 or -errno, -EIO when the file ends first. */
int blocks_read_all(int fd, void *buf, size_t len, off_t off);
int blocks_write_all(int fd, const void *buf, size_t len, off_t off);
/* Records an access in o's map file mtime (the LRU order a restart reads
 * back), at most once a minute; with mu held. */
void blocks_touch_on_disk(struct blocks *bc, struct bobj *o);

/* blocks_index.c: hash table + LRU, all with mu held ------------------------ */
static inline bool bobj_has(const struct bobj *o, uint64_t i)
{
    return (o->bits[i >> 3] >> (i & 7)) & 1u;
}
static inline uint64_t bobj_block_len(const struct bobj *o, uint64_t i)
{
    return i + 1 < o->nblocks ? BLOCKS_SIZE : o->size - (o->nblocks - 1) * (uint64_t)BLOCKS_SIZE;
}
/* A new object with no block present (not yet indexed); NULL on ENOMEM. */
struct bobj *bobj_new(const char *key, uint64_t size);
void bobj_free(struct bobj *o);
struct bobj *blocks_find(struct blocks *bc, const char *key);
int blocks_insert(struct blocks *bc, struct bobj *o); /* becomes newest; adds o->bytes */
void blocks_touch(struct blocks *bc, struct bobj *o); /* becomes newest */
/* Unlinks the object's files and drops it from the index (freed now, or
 * by the last blocks_release when pinned). */
void blocks_remove(struct blocks *bc, struct bobj *o);
void blocks_release(struct blocks *bc, struct bobj *o); /* users-- */
/* Evicts least-recently-used unpinned objects other than `keep` until
 * need more bytes fit under max_bytes; -ENOSPC when they cannot. */
int blocks_make_room(struct blocks *bc, uint64_t need, const struct bobj *keep);
void blocks_index_free(struct blocks *bc);

#endif
