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

int ivsd_ids_add_user(struct ivsd_ids *ids, const char *name)
{
	uid_t uid;
	int r = lookup_uid(name, &uid);
	if (r < 0)
		return r;
	uid_t *n = realloc(ids->users, (ids->nusers + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	n[ids->nusers++] = uid;
	ids->users = n;
	return 0;
}

int ivsd_ids_add_group(struct ivsd_ids *ids, const char *name)
{
	gid_t gid;
	int r = lookup_gid(name, &gid);
	if (r < 0)
		return r;
	gid_t *n = realloc(ids->groups, (ids->ngroups + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	n[ids->ngroups++] = gid;
	ids->groups = n;
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

/* yes: everyone (ALL), no: nobody beyond what the key's rule keeps (NONE). */
static int parse_who(const char *v, enum ivsd_ring *out)
{
	bool b;
	int r = parse_bool(v, &b);
	if (r == 0)
		*out = b ? IVSD_RING_ALL : IVSD_RING_NONE;
	return r;
}

static int parse_limit(const char *v, unsigned *out)
{
	unsigned long n;
	if (!v || parse_id(v, &n) < 0)
		return -EINVAL;
	if (n < 1 || n > IVSD_MAX_CLIENTS_LIMIT)
		return -ERANGE;
	*out = (unsigned)n;
	return 0;
}

enum key {
	K_ALLOW_USER,
	K_ALLOW_GROUP,
	K_RING_USER,
	K_RING_GROUP,
	K_RING,
	K_DIRECT_USER,
	K_DIRECT_GROUP,
	K_DIRECT,
	K_READ_ONLY,
	K_EXCLUSIVE,
	K_ALLOW_REGS,
	K_MAX_CLIENTS,
	K_MAX_PER_USER,
};

static const char *const key_names[] = {
	[K_ALLOW_USER] = "allow-user",
	[K_ALLOW_GROUP] = "allow-group",
	[K_RING_USER] = "ring-user",
	[K_RING_GROUP] = "ring-group",
	[K_RING] = "ring",
	[K_DIRECT_USER] = "direct-user",
	[K_DIRECT_GROUP] = "direct-group",
	[K_DIRECT] = "direct",
	[K_READ_ONLY] = "read-only",
	[K_EXCLUSIVE] = "exclusive",
	[K_ALLOW_REGS] = "allow-registers",
	[K_MAX_CLIENTS] = "max-clients",
	[K_MAX_PER_USER] = "max-clients-per-user",
};

const char *ivsd_policy_keys(void)
{
	static char list[256]; /* from key_names, once: the two can't drift */
	if (!list[0])
		for (size_t k = 0; k < IVS_ARRAY_SIZE(key_names); k++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", k ? ", " : "",
				 key_names[k]);
	return list;
}

int ivsd_policy_set(struct ivsd_policy *p, const char *key, const char *value)
{
	size_t k = 0;
	while (k < IVS_ARRAY_SIZE(key_names) && strcmp(key, key_names[k]))
		k++;
	bool named = value && *value;
	switch (k) {
	case K_ALLOW_USER:
		return named ? ivsd_ids_add_user(&p->allow, value) : -EINVAL;
	case K_ALLOW_GROUP:
		return named ? ivsd_ids_add_group(&p->allow, value) : -EINVAL;
	case K_RING_USER:
		return named ? ivsd_ids_add_user(&p->ring_ids, value) : -EINVAL;
	case K_RING_GROUP:
		return named ? ivsd_ids_add_group(&p->ring_ids, value) : -EINVAL;
	case K_RING:
		return parse_who(value, &p->ring);
	case K_DIRECT_USER:
		return named ? ivsd_ids_add_user(&p->direct_ids, value) : -EINVAL;
	case K_DIRECT_GROUP:
		return named ? ivsd_ids_add_group(&p->direct_ids, value) : -EINVAL;
	case K_DIRECT:
		return parse_who(value, &p->direct);
	case K_READ_ONLY:
		return parse_bool(value, &p->read_only);
	case K_EXCLUSIVE:
		return parse_bool(value, &p->exclusive);
	case K_ALLOW_REGS:
		return parse_bool(value, &p->allow_registers);
	case K_MAX_CLIENTS:
		return parse_limit(value, &p->max_clients);
	case K_MAX_PER_USER:
		return parse_limit(value, &p->max_per_user);
	}
	return -ENOKEY;
}

unsigned ivsd_policy_max_clients(const struct ivsd_policy *p)
{
	return p->max_clients ? p->max_clients : IVSD_MAX_CLIENTS_DEFAULT;
}

unsigned ivsd_policy_max_per_user(const struct ivsd_policy *p)
{
	unsigned n = p->max_per_user ? p->max_per_user : IVSD_MAX_PER_USER_DEFAULT;
	return IVS_MIN(n, ivsd_policy_max_clients(p));
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

int ivsd_policy_load(struct ivsd_policy *p, const char *path, struct ivsd_load_error *err,
		     int (*other)(void *ctx, const char *key, const char *value), void *ctx)
{
	*err = (struct ivsd_load_error){0};
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
	unsigned line = 0;
	while (fgets(buf, sizeof(buf), f)) {
		++line;
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
		if (r == -ENOKEY && other)
			r = other(ctx, key, value);
		if (r < 0) {
			snprintf(err->key, sizeof(err->key), "%s", key);
			snprintf(err->value, sizeof(err->value), "%s", value);
			break;
		}
	}
	if (r == 0 && ferror(f))
		r = -EIO;
	fclose(f);
	if (r < 0 && r != -EIO)
		err->line = line;
	return r;
}

static void ids_free(struct ivsd_ids *ids)
{
	free(ids->users);
	free(ids->groups);
	*ids = (struct ivsd_ids){0};
}

void ivsd_policy_free(struct ivsd_policy *p)
{
	ids_free(&p->allow);
	ids_free(&p->ring_ids);
	ids_free(&p->direct_ids);
}

static bool has_gid(const struct ivsd_ids *ids, gid_t g)
{
	for (size_t i = 0; i < ids->ngroups; i++)
		if (ids->groups[i] == g)
			return true;
	return false;
}

/* Is the client one of ids (by uid, primary or supplementary group)? */
static bool ids_match(const struct ivsd_ids *ids, const struct ivsd_cred *c)
{
	for (size_t i = 0; i < ids->nusers; i++)
		if (ids->users[i] == c->uid)
			return true;
	if (has_gid(ids, c->gid))
		return true;
	for (size_t i = 0; i < c->ngroups; i++)
		if (has_gid(ids, c->groups[i]))
			return true;
	return false;
}

int ivsd_policy_check(const struct ivsd_policy *p, const struct ivsd_cred *c)
{
	return c->uid == 0 || c->uid == p->owner || ids_match(&p->allow, c) ? 0 : -EACCES;
}

bool ivsd_policy_may_ring(const struct ivsd_policy *p, const struct ivsd_cred *c)
{
	if (c->uid == 0 || c->uid == p->owner || ids_match(&p->ring_ids, c))
		return true;
	switch (p->ring) {
	case IVSD_RING_ALL:
		return true;
	case IVSD_RING_NONE:
		return false;
	case IVSD_RING_DEFAULT:
		break;
	}
	return !p->ring_ids.nusers && !p->ring_ids.ngroups && !p->read_only;
}

bool ivsd_policy_may_direct(const struct ivsd_policy *p, const struct ivsd_cred *c)
{
	switch (p->direct) {
	case IVSD_RING_ALL:
		return true;
	case IVSD_RING_NONE:
		return false; /* the daemon hands out none */
	case IVSD_RING_DEFAULT:
		break;
	}
	return c->uid == 0 || c->uid == p->owner || ids_match(&p->direct_ids, c);
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
