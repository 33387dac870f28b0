/* qemu-guest-agent: freezing guest filesystems around the backup instant so the
 * frozen point is filesystem-consistent, not just crash-consistent. */
#ifndef QUAIL_BACKUP_AGENT_H
#define QUAIL_BACKUP_AGENT_H

typedef struct GuestAgent GuestAgent;

/* Connects and checks the agent answers guest-sync within timeout_ms.
 * Fails (-ETIMEDOUT, -ECONNREFUSED, ...) if nobody answers. */
int agent_open(const char *path, int timeout_ms, GuestAgent **out);
/* guest-fsfreeze-freeze; returns the number of frozen filesystems. */
int agent_freeze(GuestAgent *a);
/* guest-fsfreeze-thaw; safe to call when nothing is frozen. */
int agent_thaw(GuestAgent *a);
void agent_close(GuestAgent *a);

#endif
