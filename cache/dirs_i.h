/* dirs_i.h — private to cache/: making the caches' private directories. */
#ifndef HUBMOUNT_DIRS_I_H
#define HUBMOUNT_DIRS_I_H

#include <stdbool.h>

/* mkdir -p with mode 0700; the last component is tightened to 0700 if it
 * exists with group/other permissions.  0 or -errno. */
int cache_mkdir_private(const char *path);

#endif
