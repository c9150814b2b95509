/* SPDX-License-Identifier: MIT */
/* runas UID GID GROUPS_CSV -- CMD [ARG...]: run CMD as UID:GID with the
 * supplementary groups GROUPS_CSV ("" or "-" for none).  A test helper for
 * the guest rig (the busybox initramfs has no su/sudo that works without
 * PAM or a shadow file); must run as root. */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_id(const char *s, unsigned long *v)
{
	char *end;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return (errno || end == s || *end || *v >= 0xffffffffUL) ? -1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 6 || strcmp(argv[4], "--") != 0) {
		fprintf(stderr, "usage: runas UID GID GROUPS_CSV -- CMD [ARG...]\n");
		return 127;
	}
	unsigned long uid, gid;
	if (parse_id(argv[1], &uid) || parse_id(argv[2], &gid)) {
		fprintf(stderr, "runas: bad UID or GID\n");
		return 127;
	}
	gid_t groups[64];
	size_t n = 0;
	if (strcmp(argv[3], "") != 0 && strcmp(argv[3], "-") != 0) {
		char *list = strdup(argv[3]);
		for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			unsigned long g;
			if (parse_id(t, &g) || n == sizeof(groups) / sizeof(groups[0])) {
				fprintf(stderr, "runas: bad group list '%s'\n", argv[3]);
				return 127;
			}
			groups[n++] = (gid_t)g;
		}
		free(list);
	}
	if (setgroups(n, groups) < 0 || setgid((gid_t)gid) < 0 || setuid((uid_t)uid) < 0) {
		fprintf(stderr, "runas: %s\n", strerror(errno));
		return 127;
	}
	if (getuid() != (uid_t)uid || geteuid() != (uid_t)uid) {
		fprintf(stderr, "runas: still uid %u\n", (unsigned)geteuid());
		return 127;
	}
	execvp(argv[5], argv + 5);
	fprintf(stderr, "runas: %s: %s\n", argv[5], strerror(errno));
	return 127;
}
