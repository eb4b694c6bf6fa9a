"""roles/cluster_dns renders one manifest: CoreDNS spread over the rooms, never on a kwok node, at the DNS address
the kubelets give their pods, forwarding outside names only where upstreams are set."""
from pathlib import Path

import jinja2
import yaml

ROLE = Path(__file__).resolve().parents[2] / 'roles' / 'cluster_dns'


def render(**overrides):
    values = dict(ansible_managed='managed', cluster_dns_replicas=2, cluster_dns_domain='cluster.local',
                  cluster_dns_ip='10.96.0.10', cluster_dns_image='docker.io/coredns/coredns:1.14.7',
                  cluster_dns_upstreams=['/etc/resolv.conf'])
    values.update(overrides)
    environment = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined)
    text = environment.from_string((ROLE / 'templates' / 'coredns.yaml.j2').read_text()).render(**values)
    return dict(('%s/%s' % (doc['kind'], doc['metadata']['name']), doc) for doc in yaml.safe_load_all(text))


def test_the_service_sits_at_the_address_the_kubelets_give_their_pods():
    objects = render(cluster_dns_ip='10.96.0.53')
    assert objects['Service/kube-dns']['spec']['clusterIP'] == '10.96.0.53'
    assert sorted(objects) == ['ClusterRole/system:coredns', 'ClusterRoleBinding/system:coredns', 'ConfigMap/coredns',
                               'Deployment/coredns', 'Service/kube-dns', 'ServiceAccount/coredns']


def test_replicas_spread_over_the_rooms_and_never_on_a_kwok_node():
    pod = render()['Deployment/coredns']['spec']['template']['spec']
    spread = pod['topologySpreadConstraints'][0]
    # A rule over the nodes that could take a replica now: a lost room's tainted nodes do not count, so its replica's
    # replacement is never kept from running in the survivor.
    assert (spread['topologyKey'], spread['whenUnsatisfiable'], spread['maxSkew']) == (
        'topology.kubernetes.io/zone', 'DoNotSchedule', 1)
    assert (spread['nodeTaintsPolicy'], spread['nodeAffinityPolicy']) == ('Honor', 'Honor')
    terms = pod['affinity']['nodeAffinity']['requiredDuringSchedulingIgnoredDuringExecution']['nodeSelectorTerms']
    assert terms == [{'matchExpressions': [{'key': 'type', 'operator': 'NotIn', 'values': ['kwok']}]}]
    assert pod['containers'][0]['imagePullPolicy'] == 'IfNotPresent'


def test_outside_names_are_forwarded_only_where_upstreams_are_set():
    corefile = render(cluster_dns_upstreams=['192.0.2.53', '192.0.2.54'])['ConfigMap/coredns']['data']['Corefile']
    assert 'forward . 192.0.2.53 192.0.2.54 {' in corefile
    closed = render(cluster_dns_upstreams=[])['ConfigMap/coredns']['data']['Corefile']
    assert 'forward' not in closed
    assert 'kubernetes cluster.local in-addr.arpa ip6.arpa {' in closed
