package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlsnode/mlsnode/overlay"
)

// metrics are the node's Prometheus collectors. They are registered on the
// Registerer given with WithMetrics; without it they count into a private
// registry nobody scrapes.
type metrics struct {
	commits        prometheus.Counter
	rollbacks      prometheus.Counter
	branchSwitches prometheus.Counter
	forksHealed    prometheus.Counter
	messagesSent   prometheus.Counter
	messagesRecv   prometheus.Counter
	envelopesIn    *prometheus.CounterVec
	peers          prometheus.GaugeFunc
	groups         prometheus.GaugeFunc
	latency        prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, peers, groups func() float64) (*metrics, error) {
	m := &metrics{
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "mlsnode", Name: "commits_total",
			Help: "Commits merged into a head epoch (own and others').",
		}),
		rollbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "mlsnode", Name: "rollbacks_total",
			Help: "Epochs rolled back because a better rival branch won.",
		}),
		branchSwitches: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "mlsnode", Name: "branch_switches_total",
			Help: "Head moves to a rival branch.",
		}),
		forksHealed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "mlsnode", Name: "forks_healed_total",
			Help: "Forks detected and resolved onto one branch.",
		}),
		messagesSent: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "mlsnode", Name: "messages_sent_total",
			Help: "Application messages sent by this node.",
		}),
		messagesRecv: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "mlsnode", Name: "messages_delivered_total",
			Help: "Application messages delivered to this node's subscribers (first delivery only).",
		}),
		envelopesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mlsnode", Name: "envelopes_received_total",
			Help: "Ordering-layer envelopes received from gossip, by validation result.",
		}, []string{"result"}),
		peers: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "mlsnode", Name: "peers",
			Help: "Connected libp2p peers.",
		}, peers),
		groups: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "mlsnode", Name: "groups",
			Help: "Groups this node is a member of.",
		}, groups),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "mlsnode", Name: "gossip_latency_seconds",
			Help:    "Delay from the sender's Send to delivery here (sender's clock; meaningful between hosts with synchronised clocks).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	for _, c := range []prometheus.Collector{m.commits, m.rollbacks, m.branchSwitches, m.forksHealed,
		m.messagesSent, m.messagesRecv, m.envelopesIn, m.peers, m.groups, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// GossipStats counts what gossipsub did with this node's group messages,
// among them what it dropped under load (a full peer queue, a subscriber
// that did not keep up).
func (n *Node) GossipStats() overlay.GossipStats { return n.ov.GossipStats() }
