/* route.h — set the mount_state that fuse_req_userdata() returns on this
 * thread (NULL: the session's own).  Only fs/namespace.c calls it, around
 * each call into a repo handler.  See fuse_ll.h. */
#ifndef HUBMOUNT_FS_ROUTE_H
#define HUBMOUNT_FS_ROUTE_H

void hm_route_set(void *userdata);

#endif
