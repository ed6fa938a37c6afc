// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* microsegctl's usage texts: the summary of every command, and each
 * command's own (microsegctl COMMAND --help). microsegctl(8) says more. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

#define FILTERS                                                                           \
	"Filters:\n"                                                                      \
	"  --event E         flow_new, flow_deny, flow_audit, flow_revoked or flow_end\n" \
	"  --verdict V       allow, deny or audit\n"                                      \
	"  --workload NAME   source or destination workload\n"                            \
	"  --ip ADDR         source or destination address\n"                             \
	"  --port N          source or destination port\n"                                \
	"  --proto P         tcp, udp, sctp, icmp, icmpv6 or a number 0-255\n"            \
	"  --since TIME      at or after an RFC 3339 time\n"                              \
	"  --limit N         the newest N that match (1-1000000; default 1000)\n"

static const struct {
	const char *name, *text;
} helps[] = {
	{ "status", "Usage: microsegctl status [--json]\n"
		    "The agent: version, uptime, interfaces, mode, the policy in force,\n"
		    "packet and flow counters, sessions, the flow graph's size, the API.\n" },
	{ "flows", "Usage: microsegctl flows [--follow] [FILTERS] [--json]\n"
		   "Recent flow events, oldest first: time, event, verdict, rule, protocol,\n"
		   "source and destination with their workloads. --follow prints the\n"
		   "matching recent events, then each new one as it happens, until Ctrl-C\n"
		   "or the agent ends the stream (exit 0). --json prints the agent's JSON\n"
		   "(with --follow, one flow-log line each).\n"
		   "\n" FILTERS },
	{ "sessions",
	  "Usage: microsegctl sessions [FILTERS] [--json]\n"
	  "The live session table: protocol, endpoints, state, verdict, rule, packets,\n"
	  "bytes. --event and --since do not apply.\n"
	  "\n" FILTERS },
	{ "graph", "Usage: microsegctl graph [--format table|json|dot] [--json]\n"
		   "       microsegctl graph --from FLOWLOG... [--policy FILE] [--format F]\n"
		   "The flow graph: one edge per source, destination, protocol and\n"
		   "responder port, with flows by verdict, bytes and rules; the table is\n"
		   "sorted by flows. --json is --format json. With --from, no agent is\n"
		   "asked: the graph is built from flow logs ('-' = standard input), of one\n"
		   "host or many, merged into one map; --policy FILE gives the workloads\n"
		   "their labels and addresses. Lines that are not flow events are named on\n"
		   "standard error and skipped.\n" },
	{ "workloads", "Usage: microsegctl workloads [--json]\n"
		       "Workloads with their source, labels and addresses.\n" },
	{ "check", "Usage: microsegctl check FILE [--json]\n"
		   "Validate and compile the policy FILE with the agent's compiler, without\n"
		   "installing it. Diagnostics go to standard error as\n"
		   "FILE:LINE:COL: severity: message. Exit 1 if the policy is not valid.\n" },
	{ "reload", "Usage: microsegctl reload [--json]\n"
		    "Re-read the agent's policy file, as SIGHUP does, and print the outcome.\n"
		    "An invalid policy leaves the one in force; exit 1.\n" },
	{ "metrics", "Usage: microsegctl metrics\n"
		     "The agent's Prometheus metrics, as text.\n" },
	{ "suggest", "Usage: microsegctl suggest [--group labels|workload] [--include-denied]\n"
		     "       microsegctl suggest --from FLOWLOG... [--policy CURRENT] [...]\n"
		     "A least-privilege policy (YAML) that allows what was observed passing\n"
		     "and nothing else, from the agent or, with --from, from flow logs.\n" },
	{ "replay", "Usage: microsegctl replay -p CANDIDATE FLOWLOG... [--fail-on-new-deny]\n"
		    "                         [--top N] [--json]\n"
		    "What CANDIDATE would do to the flows of the logs: flows allowed and\n"
		    "denied, verdicts changed, the edges changed most. --fail-on-new-deny\n"
		    "exits 4 if a flow that passed would be denied. No agent is needed.\n" },
	{ "version", "Usage: microsegctl version [--json]\n"
		     "The versions of microsegctl and of the agent it reaches (exit 3 if it\n"
		     "cannot reach one; microsegctl --version asks no agent).\n" },
};

void ctl_usage(FILE *f)
{
	fputs("Usage: microsegctl [--socket PATH] [--json] COMMAND [OPTIONS]\n"
	      "Ask a running microsegd, or read flow logs offline.\n"
	      "\n"
	      "Commands:\n"
	      "  status                 the agent: version, policy, counters, sessions\n"
	      "  flows [FILTERS] [--follow]\n"
	      "                         recent flow events; --follow streams new ones\n"
	      "  sessions [FILTERS]     the live session table\n"
	      "  graph [--format table|json|dot] [--from FLOWLOG... [--policy FILE]]\n"
	      "                         the flow graph, from the agent or, with --from,\n"
	      "                         built from flow logs of one or many hosts ('-' = stdin)\n"
	      "  workloads              workloads with labels and addresses\n"
	      "  check FILE             validate a policy with the agent's compiler\n"
	      "  reload                 re-read the policy file, as SIGHUP does\n"
	      "  metrics                the Prometheus metrics text\n"
	      "  suggest [--group labels|workload] [--include-denied]\n"
	      "          [--from FLOWLOG... [--policy CURRENT]]\n"
	      "                         a least-privilege policy from what the agent (or,\n"
	      "                         with --from, the flow logs) saw pass\n"
	      "  replay -p CANDIDATE FLOWLOG... [--fail-on-new-deny] [--top N]\n"
	      "                         what CANDIDATE would do to the recorded flows;\n"
	      "                         exit 4 with --fail-on-new-deny if a flow that passed\n"
	      "                         would be denied\n"
	      "  version                the versions of microsegctl and of the agent\n"
	      "\n"
	      "Filters (flows, sessions): --event E --verdict allow|deny|audit --workload NAME\n"
	      "  --ip ADDR --port N --proto NAME|N --since RFC3339 --limit N\n"
	      "\n"
	      "Options:\n"
	      "  --socket PATH   the agent's API socket (default: $MICROSEGD_SOCKET or\n"
	      "                  " CTL_DEFAULT_SOCKET ")\n"
	      "  --json          print JSON for machines instead of tables\n"
	      "  -V, --version   -h, --help (after a command: that command's help)\n"
	      "\n"
	      "Exit status: 0 ok, 1 failed check or reload or an error from the agent,\n"
	      "2 bad usage, 3 agent unreachable, 4 replay gate. See microsegctl(8).\n",
	      f);
}

int ctl_command_help(const char *cmd, FILE *f)
{
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
		if (!strcmp(helps[i].name, cmd)) {
			fputs(helps[i].text, f);
			fputs("\nGlobal options: --socket PATH, --json. See microsegctl(8).\n", f);
			return 0;
		}
	return -1;
}
