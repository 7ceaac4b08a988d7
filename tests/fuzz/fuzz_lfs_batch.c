/* fuzz_lfs_batch.c — LFS batch answer -> upload/verify actions of the
 * files being committed, then the multipart plan of each upload.
 * Invariants: a refused object fails the batch with a negative errno;
 * actions are only attached to files whose oid was named; a multipart
 * plan covers [0, size) exactly with parts 1..K in order. */
#include "../../hub/commit_i.h"
#include "fuzz.h"

FUZZ_INIT_LOGS()

#define NFILES 3

static void check_plan(const json_t *header, uint64_t size)
{
    struct hub_lfs_part *parts = NULL;
    size_t n = 0;
    int rc = hub_lfs_parts_plan(header, size, &parts, &n);
    if (rc) {
        FUZZ_ASSERT(rc < 0 && parts == NULL);
        return;
    }
    FUZZ_ASSERT(parts && n > 0);
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT(parts[i].num == i + 1);
        FUZZ_ASSERT(parts[i].url != NULL);
        FUZZ_ASSERT(parts[i].off == off && parts[i].len > 0);
        FUZZ_ASSERT(parts[i].len <= size - off);
        off += parts[i].len;
    }
    FUZZ_ASSERT(off == size);
    free(parts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint64_t sizes[NFILES] = {10, (uint64_t)5 << 30, 1};
    struct hub_commit_op ops[NFILES];
    struct commit_file files[NFILES];
    struct commit_file *todo[NFILES];
    memset(ops, 0, sizeof(ops));
    memset(files, 0, sizeof(files));
    for (size_t i = 0; i < NFILES; i++) {
        ops[i].kind = HUB_OP_ADD;
        ops[i].path = "f";
        ops[i].local_file = "/nonexistent";
        files[i].op = &ops[i];
        files[i].size = sizes[i];
        files[i].lfs = true;
        memset(files[i].sha256, i == 1 ? 'b' : 'a', HUB_SHA256_HEX - 1);
        todo[i] = &files[i];
    }
    json_error_t err;
    json_t *res = json_loadb((const char *)data, size, 0, &err);
    int rc = hub_lfs_batch_apply(res, todo, NFILES);
    FUZZ_ASSERT(rc <= 0);
    for (size_t i = 0; i < NFILES; i++) {
        struct commit_file *cf = &files[i];
        FUZZ_ASSERT(!cf->upload || json_is_object(cf->upload));
        FUZZ_ASSERT(!cf->verify || json_is_object(cf->verify));
        if (cf->upload) {
            const json_t *header = json_object_get(cf->upload, "header");
            if (json_is_object(header))
                check_plan(header, cf->size);
        }
        json_decref(cf->upload);
        json_decref(cf->verify);
    }
    /* the root as a header too: shorter path to the plan parser */
    if (json_is_object(res)) {
        check_plan(res, 10);
        check_plan(res, (uint64_t)1 << 40);
        check_plan(res, UINT64_MAX);
    }
    json_decref(res);
    return 0;
}
