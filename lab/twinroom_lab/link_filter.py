"""The inter-room link's cut as the lab makes it: a filter on the link bridge, not an unplugged cable.

A real cut between two server rooms leaves each room's own network up: a node still reaches the nodes of its
own room at the addresses the cluster uses, only the other room is gone. The lab's link is one podman bridge
both rooms share and the nodes' cluster addresses are on it, so taking a node off that bridge (podman network
disconnect) would also take its address away inside its own room - its room's API server behind the
`kubernetes` Service included, which a pod started in the surviving room then never reached.

So a node's link is cut by dropping every frame between its link interface and those of the other room's nodes
on the bridge: two rules in the bridge filter table's chain TWINROOM-LINK, jumped to from FORWARD (ebtables with
the nf_tables backend, `ebtables-nft`, from Debian's iptables package). A broadcast still crosses (an ARP
request) but no reply comes back, so nothing is exchanged. Each node's link MAC is fixed (layout.link_mac, set
by roles/lab_bed), so a cut holds across a node's power cycle.

`node_rules`, `parse`, `cut_nodes` and `rule_numbers` are pure; `cut`, `restore` and `listing` run ebtables-nft.
"""

from . import run_command

CHAIN = "TWINROOM-LINK"
EBTABLES = "ebtables-nft"
TIMEOUT = 30


def normal_mac(text):
    """'2:77:a:4d:0:6e' (as ebtables prints an among list) -> '02:77:0a:4d:00:6e'."""
    return ":".join("%02x" % int(part, 16) for part in text.split(":"))


def node_rules(topo, node):
    """The two rules that cut ``node`` off from every node of the other room(s) on the link."""
    others = ",".join(topo.link_mac(other) for other in topo.room_nodes() if other.room != node.room)
    mine = topo.link_mac(node)
    return [["-s", mine, "--among-dst", others, "-j", "DROP"],
            ["-d", mine, "--among-src", others, "-j", "DROP"]]


def parse(text):
    """`ebtables-nft -L TWINROOM-LINK --Ln` output -> [(rule number, source MAC or None, destination MAC or None)]."""
    rules = []
    for line in text.splitlines():
        words = line.split()
        if not words or not words[0].isdigit():
            continue
        source = normal_mac(words[words.index("-s") + 1]) if "-s" in words else None
        target = normal_mac(words[words.index("-d") + 1]) if "-d" in words else None
        rules.append((int(words[0]), source, target))
    return rules


def cut_nodes(topo, rules):
    """Names of the room nodes whose link is cut: a rule drops frames from their link MAC."""
    sources = {source for _number, source, _target in rules}
    return sorted(node.name for node in topo.room_nodes() if topo.link_mac(node) in sources)


def rule_numbers(topo, node, rules):
    """Numbers of the rules that name ``node``'s link MAC, highest first (so deleting them in turn keeps the rest)."""
    mine = topo.link_mac(node)
    return sorted((number for number, source, target in rules if mine in (source, target)), reverse=True)


def _run(*args, check=True):
    return run_command([EBTABLES] + list(args), TIMEOUT, check=check,
                       missing=": the lab cuts its link with it (Debian's iptables package); run "
                               "scripts/install-system-deps.sh")


def listing():
    """The chain's rules as `parse` returns them; [] when the chain does not exist (nothing was ever cut)."""
    proc = _run("-L", CHAIN, "--Ln", check=False)
    return parse(proc.stdout) if proc.returncode == 0 else []


def _ensure_chain():
    if _run("-L", CHAIN, check=False).returncode != 0:
        _run("-N", CHAIN)
    if ("-j " + CHAIN) not in _run("-L", "FORWARD").stdout:
        _run("-A", "FORWARD", "-j", CHAIN)


def cut(topo, node):
    _ensure_chain()
    for rule in node_rules(topo, node):
        _run("-A", CHAIN, *rule)


def restore(topo, node):
    for number in rule_numbers(topo, node, listing()):
        _run("-D", CHAIN, str(number))
