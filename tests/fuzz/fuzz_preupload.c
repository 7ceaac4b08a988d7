/* fuzz_preupload.c — /preupload answer -> how each file travels.
 * Invariants: an empty file never goes to LFS; only named files change. */
#include "../../hub/commit_i.h"
#include "fuzz.h"

FUZZ_INIT_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *paths[] = {"a.bin", "dir/b.txt", "empty", "a.bin"};
    static const uint64_t sizes[] = {100, 5, 0, 7};
    enum { N = 4 };
    struct hub_commit_op ops[N];
    struct commit_file files[N];
    memset(ops, 0, sizeof(ops));
    memset(files, 0, sizeof(files));
    for (size_t i = 0; i < N; i++) {
        ops[i].kind = HUB_OP_ADD;
        ops[i].path = paths[i];
        ops[i].local_file = "/nonexistent";
        files[i].op = &ops[i];
        files[i].size = sizes[i];
        memset(files[i].sha256, 'a' + (int)i, HUB_SHA256_HEX - 1);
        memset(files[i].git_oid, '0' + (int)i, HUB_SHA1_HEX - 1);
    }
    json_error_t err;
    json_t *res = json_loadb((const char *)data, size, 0, &err);
    int rc = hub_preupload_apply(res, files, N);
    FUZZ_ASSERT(rc <= 0);
    for (size_t i = 0; i < N; i++) {
        FUZZ_ASSERT(!files[i].lfs || files[i].size > 0);
        FUZZ_ASSERT(files[i].upload == NULL && files[i].verify == NULL);
    }
    json_decref(res);
    return 0;
}
