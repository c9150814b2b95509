/* SPDX-License-Identifier: MIT */
/* Who may use the daemon, and how: users and groups from flags or a config
 * file, checked against the kernel's view of the client (SO_PEERCRED,
 * SO_PEERGROUPS), never against anything the client says. */
#include "daemon.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "service/runtime-files.h"
#include "util/util.h"

static int parse_id(const char *s, unsigned long *out)
{
	if (!*s || !isdigit((unsigned char)*s))
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v >= (unsigned long)UINT32_MAX)
		return -EINVAL;
	*out = v;
	return 0;
}

static int lookup_uid(const char *name, uid_t *uid)
{
	unsigned long v;
	if (parse_id(name, &v) == 0) {
		*uid = (uid_t)v;
		return 0;
	}
	char buf[4096];
	struct passwd pw, *res = NULL;
	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return -ENOENT;
	*uid = res->pw_uid;
	return 0;
}

static int lookup_gid(const char *name, gid_t *gid)
{
	unsigned long v;
	if (parse_id(name, &v) == 0) {
		*gid = (gid_t)v;
		return 0;
	}
	char buf[16384];
	struct group gr, *res = NULL;
	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return -ENOENT;
	*gid = res->gr_gid;
	return 0;
}

int ivsd_policy_add_user(struct ivsd_policy *p, const char *name)
{
	uid_t uid;
	int r = lookup_uid(name, &uid);
	if (r < 0)
		return r;
	uid_t *n = realloc(p->users, (p->nusers + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	n[p->nusers++] = uid;
	p->users = n;
	return 0;
}

int ivsd_policy_add_group(struct ivsd_policy *p, const char *name)
{
	gid_t gid;
	int r = lookup_gid(name, &gid);
	if (r < 0)
		return r;
	gid_t *n = realloc(p->groups, (p->ngroups + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	n[p->ngroups++] = gid;
	p->groups = n;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	if (!v || !*v || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "on"))
		*out = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "off"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

int ivsd_policy_set(struct ivsd_policy *p, const char *key, const char *value)
{
	if (!strcmp(key, "allow-user"))
		return value && *value ? ivsd_policy_add_user(p, value) : -EINVAL;
	if (!strcmp(key, "allow-group"))
		return value && *value ? ivsd_policy_add_group(p, value) : -EINVAL;
	if (!strcmp(key, "read-only"))
		return parse_bool(value, &p->read_only);
	if (!strcmp(key, "exclusive"))
		return parse_bool(value, &p->exclusive);
	if (!strcmp(key, "allow-registers"))
		return parse_bool(value, &p->allow_registers);
	return -EINVAL;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = 0;
	return s;
}

int ivsd_policy_load(struct ivsd_policy *p, const char *path, unsigned *line,
		     int (*other)(void *ctx, const char *key, const char *value), void *ctx)
{
	*line = 0;
	/* Never a FIFO (open would sleep) nor a directory (reads EISDIR). */
	int fd = ivs_rt_open_regular(path);
	if (fd < 0)
		return fd;
	FILE *f = fdopen(fd, "re");
	if (!f) {
		int e = -errno;
		close(fd);
		return e;
	}
	char buf[1024];
	int r = 0;
	while (fgets(buf, sizeof(buf), f)) {
		++*line;
		if (!strchr(buf, '\n') && !feof(f)) {
			r = -E2BIG; /* a line longer than any sane setting */
			break;
		}
		char *hash = strchr(buf, '#');
		if (hash)
			*hash = 0;
		char *key = trim(buf);
		if (!*key)
			continue;
		char *value = key + strcspn(key, " \t");
		if (*value)
			*value++ = 0;
		value = trim(value);
		r = ivsd_policy_set(p, key, value);
		if (r == -EINVAL && other && strcmp(key, "allow-user") && strcmp(key, "allow-group") &&
		    strcmp(key, "read-only") && strcmp(key, "exclusive") && strcmp(key, "allow-registers"))
			r = other(ctx, key, value);
		if (r < 0)
			break;
	}
	if (r == 0 && ferror(f))
		r = -EIO;
	fclose(f);
	if (r == 0)
		*line = 0;
	return r;
}

void ivsd_policy_free(struct ivsd_policy *p)
{
	free(p->users);
	free(p->groups);
	p->users = NULL;
	p->groups = NULL;
	p->nusers = p->ngroups = 0;
}

static bool has_gid(const struct ivsd_policy *p, gid_t g)
{
	for (size_t i = 0; i < p->ngroups; i++)
		if (p->groups[i] == g)
			return true;
	return false;
}

int ivsd_policy_check(const struct ivsd_policy *p, const struct ivsd_cred *c)
{
	if (c->uid == 0)
		return 0;
	for (size_t i = 0; i < p->nusers; i++)
		if (p->users[i] == c->uid)
			return 0;
	if (has_gid(p, c->gid))
		return 0;
	for (size_t i = 0; i < c->ngroups; i++)
		if (has_gid(p, c->groups[i]))
			return 0;
	return -EACCES;
}

/* Supplementary groups from /proc/PID/status, for kernels without
 * SO_PEERGROUPS (< 4.13).  Racy against pid reuse, hence only a fallback. */
static int proc_groups(pid_t pid, struct ivsd_cred *c)
{
	char path[64], line[4096];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	int r = -ENODATA;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		r = 0;
		for (char *s = line + 7;;) {
			char *end;
			while (isspace((unsigned char)*s))
				s++;
			if (!isdigit((unsigned char)*s))
				break;
			unsigned long g = strtoul(s, &end, 10);
			gid_t *n = realloc(c->groups, (c->ngroups + 1) * sizeof(*n));
			if (!n) {
				r = -ENOMEM;
				break;
			}
			c->groups = n;
			c->groups[c->ngroups++] = (gid_t)g;
			s = end;
		}
		break;
	}
	fclose(f);
	return r;
}

int ivsd_peer_cred(int sock, struct ivsd_cred *c)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	memset(c, 0, sizeof(*c));
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	c->pid = uc.pid;
	c->uid = uc.uid;
	c->gid = uc.gid;
	/* Groups as they were at connect(), straight from the kernel. */
	len = 64 * sizeof(gid_t);
	for (int tries = 0; tries < 4; tries++) {
		gid_t *g = malloc(len ? len : sizeof(gid_t));
		if (!g)
			return -ENOMEM;
		socklen_t got = len;
		if (getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, g, &got) == 0) {
			c->groups = g;
			c->ngroups = got / sizeof(gid_t);
			return 0;
		}
		int e = errno;
		free(g);
		if (e == ERANGE && got > len) {
			len = got;
			continue;
		}
		if (e == ENOPROTOOPT)
			return proc_groups(c->pid, c);
		return -e;
	}
	return -ERANGE;
}
