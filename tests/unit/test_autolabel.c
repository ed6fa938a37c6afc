// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Labels of discovered workloads and the policy that names them
 * (README, "Containers"): the shipped port table, the policy's autolabels:
 * ahead of it, host: labels, and selectors that match nothing yet being
 * warnings while discovery is on.
 */
#include <errno.h>
#include <string.h>

#include "autolabel.h"
#include "policy_parse.h"
#include "testlib.h"

static struct ms_diag D;
static struct ms_policy *P;

static int parse_with(const char *yaml, const struct ms_discovered *inv, size_t n, bool discover)
{
	struct ms_parse_opts o = { .inventory = inv, .n_inventory = n, .discovery = discover };

	ms_policy_free(&P);
	ms_diag_free(&D);
	return ms_policy_parse_mem_opts("t.yaml", yaml, strlen(yaml), &o, &P, &D);
}

static void dump(void)
{
	for (size_t i = 0; i < D.n; i++)
		printf("    | %s\n", D.msgs[i]);
}

static bool has_msg(const char *sub)
{
	for (size_t i = 0; i < D.n; i++)
		if (strstr(D.msgs[i], sub))
			return true;
	return false;
}

static const char *label(const struct ms_workload *w, const char *k)
{
	for (size_t i = 0; i < w->n_labels; i++)
		if (!strcmp(w->labels[i].key, k))
			return w->labels[i].value;
	return NULL;
}

static const struct ms_workload *workload(const char *name)
{
	for (size_t i = 0; P && i < P->n_workloads; i++)
		if (!strcmp(P->workloads[i].name, name))
			return &P->workloads[i];
	return NULL;
}

static struct ms_cidr C(const char *s) {
	struct ms_cidr c;

	if (ms_cidr_parse(s, &c))
		abort();
	return c;
}

static void
test_shipped_roles(void)
{
	struct ms_listener db[] = { { MS_PROTO_TCP, 22, "sshd", 0 },
				    { MS_PROTO_TCP, 5432, "postgres", 0 } };
	struct ms_listener web[] = { { MS_PROTO_TCP, 8080, "python3", 0 } };
	struct ms_listener dns[] = { { MS_PROTO_UDP, 53, "unbound", 0 } };
	struct ms_listener tcp53[] = { { MS_PROTO_TCP, 5353, "x", 0 } };
	struct ms_listener ssh[] = { { MS_PROTO_TCP, 22, "sshd", 0 } };

	CHECK(!strcmp(ms_autolabel_role(NULL, db, 2), "db"), "db beats ssh, whatever the order");
	CHECK(!strcmp(ms_autolabel_role(NULL, web, 1), "web"), "8080 is web");
	CHECK(!strcmp(ms_autolabel_role(NULL, dns, 1), "dns"), "udp/53 is dns");
	CHECK(!strcmp(ms_autolabel_role(NULL, ssh, 1), "ssh"), "ssh alone");
	CHECK(ms_autolabel_role(NULL, tcp53, 1) == NULL, "an unknown port has no role");
	CHECK(ms_autolabel_role(NULL, NULL, 0) == NULL, "no listener, no role");
	for (size_t i = 0; i < ms_n_autolabels_shipped; i++)
		CHECK(ms_autolabels_shipped[i].lo <= ms_autolabels_shipped[i].hi &&
			      ms_autolabels_shipped[i].role,
		      "entry %zu", i);
}

static void test_app_is_main_listener(void)
{
	struct ms_listener l[] = { { MS_PROTO_TCP, 9100, "exporter", 0 },
				   { MS_PROTO_TCP, 5432, "postgres", 0 },
				   { MS_PROTO_TCP, 5433, "postgres", 0 },
				   { MS_PROTO_TCP, 22, NULL, 0 } };
	struct ms_listener tie[] = { { MS_PROTO_TCP, 9100, "exporter", 0 },
				     { MS_PROTO_TCP, 80, "nginx", 0 } };

	CHECK(!strcmp(ms_autolabel_app(l, 4), "postgres"), "most listening ports");
	CHECK(!strcmp(ms_autolabel_app(tie, 2), "nginx"), "a tie goes to the lowest port");
	CHECK(ms_autolabel_app(l + 3, 1) == NULL, "an unknown process is no app");
}

static void test_policy_overrides_table(void)
{
	struct ms_listener l[] = { { MS_PROTO_TCP, 5432, "postgres", 0 },
				   { MS_PROTO_TCP, 9000, "app", 0 } };
	struct ms_listener r[] = { { MS_PROTO_TCP, 9005, "app", 0 } };

	if (parse_with("version: 1\n"
		       "autolabels:\n"
		       "  tcp/9000-9010: api\n"
		       "  tcp/5432: postgres\n",
		       NULL, 0, false)) {
		dump();
		REQUIRE(0, "parse");
	}
	REQUIRE(P->n_autolabels == 2, "two entries, got %zu", P->n_autolabels);
	CHECK(!strcmp(ms_autolabel_role(P, l, 2), "api"), "the policy's first entry wins");
	CHECK(!strcmp(ms_autolabel_role(P, r, 1), "api"), "ranges");
	CHECK(!strcmp(ms_autolabel_role(P, l, 1), "postgres"), "overrides the shipped db");
}

static void test_autolabels_errors(void)
{
	CHECK(parse_with("version: 1\nautolabels:\n  tcp: web\n", NULL, 0, false) == -EINVAL,
	      "a protocol without a port");
	CHECK(has_msg("t.yaml:3:3: error: autolabels need a port"), "message");
	CHECK(parse_with("version: 1\nautolabels:\n  tcp/99999: web\n", NULL, 0, false) == -EINVAL,
	      "port out of range");
	CHECK(has_msg("t.yaml:3:3: error: port out of range"), "message");
	CHECK(parse_with("version: 1\nautolabels:\n  tcp/80: 'a b'\n", NULL, 0, false) == -EINVAL,
	      "a role that is no name");
	CHECK(has_msg("t.yaml:3:11: error: invalid role"), "message");
	CHECK(parse_with("version: 1\nautolabels: [tcp/80]\n", NULL, 0, false) == -EINVAL,
	      "not a mapping");
	CHECK(parse_with("version: 1\nhost: {labels: {env: prod}, zone: a}\n", NULL, 0, false) ==
		      -EINVAL,
	      "unknown key in host");
	CHECK(parse_with("version: 1\ndiscovery: maybe\n", NULL, 0, false) == -EINVAL,
	      "discovery is a boolean");
}

static const char *const LABELS_ONLY = "version: 1\n"
				       "default: deny\n"
				       "discovery: true\n"
				       "host: {labels: {env: prod, loc: eu-west}}\n"
				       "rules:\n"
				       "  - name: web-to-db\n"
				       "    action: allow\n"
				       "    from: {labels: {role: web}}\n"
				       "    to: {labels: {role: db}}\n"
				       "    ports: [tcp/5432]\n"
				       "  - name: admin\n"
				       "    action: allow\n"
				       "    from: {workload: bastion}\n"
				       "    ports: [tcp/22]\n";

static void test_inventory_labelled_and_matched(void)
{
	struct ms_cidr dba[] = { C("198.18.5.2"), C("2001:db8:5::2") },
		       weba[] = { C("198.18.6.2") };
	struct ms_listener dbl[] = { { MS_PROTO_TCP, 5432, "postgres", 0 } };
	struct ms_listener webl[] = { { MS_PROTO_TCP, 8080, "python3", 0 } };
	struct ms_discovered inv[] = {
		{ "db-1", "db-1", dba, 2, dbl, 1 },
		{ "web-1", "web-1", weba, 1, webl, 1 },
	};
	const struct ms_workload *db, *web;
	uint8_t act;
	struct ms_flow f = { .dir = MS_DIR_INGRESS, .proto = MS_PROTO_TCP, .port = 5432 };

	if (parse_with(LABELS_ONLY, inv, 2, false)) {
		dump();
		REQUIRE(0, "parse");
	}
	db = workload("db-1");
	web = workload("web-1");
	REQUIRE(db && web, "both discovered workloads are in the policy");
	CHECK(db->discovered && web->discovered, "marked as discovered");
	CHECK(label(db, "role") && !strcmp(label(db, "role"), "db"), "db role");
	CHECK(label(db, "app") && !strcmp(label(db, "app"), "postgres"), "db app");
	CHECK(label(db, "netns") && !strcmp(label(db, "netns"), "db-1"), "netns label");
	CHECK(label(web, "env") && !strcmp(label(web, "env"), "prod"), "host labels given");
	CHECK(label(web, "loc") && !strcmp(label(web, "loc"), "eu-west"), "host labels given");
	CHECK(db->n_addrs == 2, "addresses copied");
	CHECK(has_msg("no workload 'bastion' is known or discovered yet"),
	      "an unknown workload is a warning");
	/* web -> db:5432 by labels; the reverse falls to the default. */
	memcpy(f.src, weba[0].addr, 16);
	memcpy(f.dst, dba[0].addr, 16);
	CHECK(ms_policy_eval(P, &f, &act) == 1 && act == MS_ACT_ALLOW, "web reaches db:5432");
	memcpy(f.src, dba[0].addr, 16);
	memcpy(f.dst, weba[0].addr, 16);
	CHECK(ms_policy_eval(P, &f, &act) == MS_RULE_DEFAULT && act == MS_ACT_DENY,
	      "db does not reach web:5432");
}

static void test_nothing_discovered_yet(void)
{
	struct ms_flow f = { .dir = MS_DIR_INGRESS, .proto = MS_PROTO_TCP, .port = 5432 };
	struct ms_cidr a = C("198.18.6.2"), b = C("198.18.5.2");
	uint8_t act;

	/* Discovery on: a policy that names no address at all is valid. */
	if (parse_with(LABELS_ONLY, NULL, 0, false)) {
		dump();
		REQUIRE(0, "parse");
	}
	CHECK(has_msg("t.yaml:8:20: warning: labels selector matches no workload yet"),
	      "a warning at the selector");
	CHECK(D.n_errors == 0, "no error");
	memcpy(f.src, a.addr, 16);
	memcpy(f.dst, b.addr, 16);
	CHECK(ms_policy_eval(P, &f, &act) == MS_RULE_DEFAULT && act == MS_ACT_DENY,
	      "an empty selector matches nothing");
	/* Discovery off: the same selector is an error. */
	CHECK(parse_with("version: 1\nrules:\n  - name: x\n    action: allow\n"
			 "    from: {labels: {role: web}}\n",
			 NULL, 0, false) == -EINVAL,
	      "an error without discovery");
	CHECK(has_msg("error: labels selector matches no workload"), "message");
	/* --discover turns it on for a policy that does not say so. */
	CHECK(parse_with("version: 1\nrules:\n  - name: x\n    action: allow\n"
			 "    from: {labels: {role: web}}\n",
			 NULL, 0, true) == 0,
	      "--discover");
	CHECK(P && P->discovery, "the policy knows discovery is on");
}

static void test_static_name_wins(void)
{
	struct ms_cidr a = C("198.18.9.9");
	struct ms_discovered inv[] = { { "db", "db", &a, 1, NULL, 0 } };
	const struct ms_workload *w;

	if (parse_with("version: 1\ndiscovery: true\nworkloads:\n  db:\n"
		       "    labels: {role: db}\n    addresses: [198.18.1.1]\n",
		       inv, 1, false)) {
		dump();
		REQUIRE(0, "parse");
	}
	CHECK(P->n_workloads == 1, "one workload named db");
	w = workload("db");
	REQUIRE(w, "db");
	CHECK(!w->discovered && w->n_addrs == 1, "the policy's");
	CHECK(has_msg("discovered workload 'db' has the name of one in the policy"), "warned");
}

int main(void)
{
	RUN(test_shipped_roles);
	RUN(test_app_is_main_listener);
	RUN(test_policy_overrides_table);
	RUN(test_autolabels_errors);
	RUN(test_inventory_labelled_and_matched);
	RUN(test_nothing_discovered_yet);
	RUN(test_static_name_wins);
	ms_policy_free(&P);
	ms_diag_free(&D);
	return t_done();
}
