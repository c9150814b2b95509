/* SPDX-License-Identifier: MIT */
/* The daemon's policy as a pure function: settings (flags and config
 * keys), the limits and their bounds, who may connect and who may ring,
 * and where a config file went wrong.  No daemon, no sockets. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tap.h"
#include "../../src/daemon/daemon.h"

static struct ivsd_cred cred(uid_t uid, gid_t gid, gid_t *groups, size_t ngroups)
{
	return (struct ivsd_cred){.pid = 1, .uid = uid, .gid = gid, .groups = groups, .ngroups = ngroups};
}

static void test_settings(void)
{
	struct ivsd_policy p = {0};
	is(ivsd_policy_set(&p, "allow-user", "4243"), 0, "allow-user by number");
	is(ivsd_policy_set(&p, "allow-user", "root"), 0, "allow-user by name");
	is(ivsd_policy_set(&p, "allow-user", "no-such-user-here"), -ENOENT, "an unknown user: -ENOENT");
	is(ivsd_policy_set(&p, "allow-user", ""), -EINVAL, "allow-user without a name: -EINVAL");
	is(ivsd_policy_set(&p, "allow-group", "4300"), 0, "allow-group by number");
	is(ivsd_policy_set(&p, "ring-group", "no-such-group-here"), -ENOENT, "an unknown ring group: -ENOENT");
	is(ivsd_policy_set(&p, "ring", "maybe"), -EINVAL, "ring takes yes/no only");
	is(ivsd_policy_set(&p, "read-only", NULL), 0, "a flag without a value means yes");
	ok(p.read_only, "  read-only is set");
	is(ivsd_policy_set(&p, "read-only", "off"), 0, "read-only off");
	ok(!p.read_only, "  read-only is clear");
	is(ivsd_policy_set(&p, "bogus", "1"), -ENOKEY, "an unknown key: -ENOKEY (the caller may know it)");
	is(ivsd_policy_set(&p, "socket", "/x"), -ENOKEY, "socket is not the policy's key");

	is(ivsd_policy_max_clients(&p), IVSD_MAX_CLIENTS_DEFAULT, "max-clients defaults to %u",
	   IVSD_MAX_CLIENTS_DEFAULT);
	is(ivsd_policy_max_per_user(&p), IVSD_MAX_PER_USER_DEFAULT, "max-clients-per-user defaults to %u",
	   IVSD_MAX_PER_USER_DEFAULT);
	is(ivsd_policy_set(&p, "max-clients", "0"), -ERANGE, "max-clients 0 is refused (not 'the default')");
	is(ivsd_policy_set(&p, "max-clients", "65537"), -ERANGE, "max-clients above the limit is refused");
	is(ivsd_policy_set(&p, "max-clients", "-1"), -EINVAL, "max-clients -1 is not a number");
	is(ivsd_policy_set(&p, "max-clients", "4k"), -EINVAL, "max-clients takes no suffix");
	is(ivsd_policy_set(&p, "max-clients", "99999999999999999999"), -EINVAL, "an overflowing number");
	is(ivsd_policy_set(&p, "max-clients", "8"), 0, "max-clients 8");
	is(ivsd_policy_max_per_user(&p), 8, "the per-user default never exceeds max-clients");
	is(ivsd_policy_set(&p, "max-clients-per-user", "3"), 0, "max-clients-per-user 3");
	is(ivsd_policy_max_per_user(&p), 3, "  is 3");
	ivsd_policy_free(&p);
	ivsd_policy_free(&p); /* twice is harmless */
}

static void test_connect(void)
{
	struct ivsd_policy p = {0};
	gid_t sup[] = {10, 4300};
	ivsd_policy_set(&p, "allow-user", "4243");
	ivsd_policy_set(&p, "allow-group", "4300");
	struct ivsd_cred root = cred(0, 0, NULL, 0), u = cred(4243, 4243, NULL, 0),
			 g = cred(5000, 5000, sup, 2), pg = cred(5001, 4300, NULL, 0),
			 other = cred(5002, 5002, (gid_t[]){10}, 1);
	is(ivsd_policy_check(&p, &root), 0, "root may connect");
	is(ivsd_policy_check(&p, &u), 0, "a listed user may");
	is(ivsd_policy_check(&p, &g), 0, "a member (supplementary) of a listed group may");
	is(ivsd_policy_check(&p, &pg), 0, "a member (primary) of a listed group may");
	is(ivsd_policy_check(&p, &other), -EACCES, "anyone else may not");
	/* A daemon an ordinary user runs serves that user. */
	p.owner = 5002;
	is(ivsd_policy_check(&p, &other), 0, "the daemon's own user may, listed or not");
	struct ivsd_cred other2 = cred(5003, 5003, NULL, 0);
	is(ivsd_policy_check(&p, &other2), -EACCES, "  another user still may not");
	ivsd_policy_free(&p);
}

static void test_ring(void)
{
	struct ivsd_cred root = cred(0, 0, NULL, 0), u = cred(4243, 4243, NULL, 0),
			 v = cred(4244, 4244, (gid_t[]){4400}, 1);
	struct ivsd_policy p = {0};
	ok(ivsd_policy_may_ring(&p, &u), "read-write daemon, no ring settings: clients may ring");
	p.read_only = true;
	ok(!ivsd_policy_may_ring(&p, &u), "read-only daemon: clients may not ring by default");
	ok(ivsd_policy_may_ring(&p, &root), "  root may");
	ivsd_policy_set(&p, "ring", "yes");
	ok(ivsd_policy_may_ring(&p, &u), "read-only with ring yes: clients may");
	ivsd_policy_set(&p, "ring", "no");
	p.read_only = false;
	ok(!ivsd_policy_may_ring(&p, &u), "read-write with ring no: clients may not");
	ok(ivsd_policy_may_ring(&p, &root), "  root still may");
	p.owner = 4243;
	ok(ivsd_policy_may_ring(&p, &u), "  and the daemon's own user");
	ok(!ivsd_policy_may_ring(&p, &v), "  not another");
	ivsd_policy_free(&p);

	p = (struct ivsd_policy){0};
	ivsd_policy_set(&p, "ring-user", "4243");
	ok(ivsd_policy_may_ring(&p, &u), "ring-user: that user may");
	ok(!ivsd_policy_may_ring(&p, &v), "  others may not, even on a read-write daemon");
	ivsd_policy_set(&p, "ring-group", "4400");
	ok(ivsd_policy_may_ring(&p, &v), "ring-group: its members may");
	p.read_only = true;
	ivsd_policy_set(&p, "ring", "no");
	ok(ivsd_policy_may_ring(&p, &u) && ivsd_policy_may_ring(&p, &v),
	   "the lists hold on a read-only daemon with ring no");
	ivsd_policy_free(&p);
}

static void test_direct(void)
{
	struct ivsd_policy p = {.owner = 4250};
	gid_t sup[] = {4301};
	struct ivsd_cred root = cred(0, 0, NULL, 0), owner = cred(4250, 4250, NULL, 0),
			 u = cred(4243, 4243, NULL, 0), g = cred(5000, 5000, sup, 1), other = cred(5002, 5002, NULL, 0);
	ok(!ivsd_policy_may_direct(&p, &u), "no direct settings: clients get no direct fds");
	ok(ivsd_policy_may_direct(&p, &root) && ivsd_policy_may_direct(&p, &owner), "  root and the owner do");
	is(ivsd_policy_set(&p, "direct-user", "4243"), 0, "direct-user 4243");
	is(ivsd_policy_set(&p, "direct-group", "4301"), 0, "direct-group 4301");
	is(ivsd_policy_set(&p, "direct-user", ""), -EINVAL, "direct-user without a name: -EINVAL");
	is(ivsd_policy_set(&p, "direct", "sometimes"), -EINVAL, "direct takes yes/no only");
	ok(ivsd_policy_may_direct(&p, &u), "  the listed user does");
	ok(ivsd_policy_may_direct(&p, &g), "  a member of the listed group (supplementary) does");
	ok(!ivsd_policy_may_direct(&p, &other), "  anyone else does not");
	is(ivsd_policy_set(&p, "direct", NULL), 0, "direct (yes)");
	ok(ivsd_policy_may_direct(&p, &other), "  then everyone does");
	is(ivsd_policy_set(&p, "direct", "no"), 0, "direct no");
	ok(!ivsd_policy_may_direct(&p, &root) && !ivsd_policy_may_direct(&p, &u),
	   "  then nobody does, root and the lists included: the daemon hands out none");
	ok(strstr(ivsd_policy_keys(), "direct-user") && strstr(ivsd_policy_keys(), "direct-group"),
	   "the key list names them");
	ivsd_policy_free(&p);
}

static void test_load(void)
{
	char dir[] = "/tmp/ivsd-policy-XXXXXX", path[64], fifo[64];
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/conf", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	FILE *f = fopen(path, "we");
	fprintf(f, "# comment\n\nallow-user 4243   # trailing\nread-only\nmax-clients 0\n");
	fclose(f);
	struct ivsd_policy p = {0};
	struct ivsd_load_error e;
	is(ivsd_policy_load(&p, path, &e, NULL, NULL), -ERANGE, "a bad limit in a file: -ERANGE");
	is(e.line, 5, "  on line 5");
	ok(!strcmp(e.key, "max-clients") && !strcmp(e.value, "0"), "  naming key and value (%s %s)",
	   e.key, e.value);
	ok(p.read_only && p.allow.nusers == 1, "  the lines before it were applied");
	ivsd_policy_free(&p);

	f = fopen(path, "we");
	fprintf(f, "socket /run/x.sock\n");
	fclose(f);
	is(ivsd_policy_load(&p, path, &e, NULL, NULL), -ENOKEY, "a key nobody knows: -ENOKEY");
	ok(e.line == 1 && !strcmp(e.key, "socket"), "  on line 1, key socket");
	ivsd_policy_free(&p);

	f = fopen(path, "we");
	fputs("allow-user ", f);
	for (int i = 0; i < 1100; i++)
		fputc('x', f);
	fputc('\n', f);
	fclose(f);
	is(ivsd_policy_load(&p, path, &e, NULL, NULL), -E2BIG, "a line over 1 KiB: -E2BIG");
	is(e.line, 1, "  on line 1");
	ivsd_policy_free(&p);

	is(ivsd_policy_load(&p, dir, &e, NULL, NULL), -EISDIR, "a directory: -EISDIR");
	is(e.line, 0, "  line 0: the file itself");
	if (mkfifo(fifo, 0600) == 0) {
		is(ivsd_policy_load(&p, fifo, &e, NULL, NULL), -EINVAL, "a FIFO: -EINVAL, without blocking");
		unlink(fifo);
	}
	is(ivsd_policy_load(&p, "/nonexistent/conf", &e, NULL, NULL), -ENOENT, "a missing file: -ENOENT");
	ivsd_policy_free(&p);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	test_settings();
	test_connect();
	test_ring();
	test_direct();
	test_load();
	return tap_done();
}
