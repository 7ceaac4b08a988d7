/* route.c — which mount_state a FUSE request is about (see fuse_ll.h).
 *
 * The namespace layer sets the repo's state for the duration of one call
 * into a repo handler, on the thread that makes the call; handlers read it
 * at their start (they never ask again from another thread). */
#include "fuse_ll.h"

#include "route.h"

static _Thread_local void *routed;

void *hm_req_userdata(fuse_req_t req)
{
    /* (fuse_req_userdata) with parentheses is libfuse's own function. */
    return routed ? routed : (fuse_req_userdata)(req);
}

void hm_route_set(void *userdata)
{
    routed = userdata;
}
