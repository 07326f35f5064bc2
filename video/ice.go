package video

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// ICEConfig is the network setup of the relay's peer connections to
// vehicles and viewers.
type ICEConfig struct {
	// UDPAddr is the one UDP address every session shares (ICE UDP mux),
	// such as ":8189". With an unspecified host the relay listens on that
	// port on every non-loopback interface address. With a loopback host
	// it offers loopback candidates, which only local peers can use.
	UDPAddr string
	// TCPAddr is the ICE-TCP fallback listener for peers whose UDP is
	// blocked; empty disables it.
	TCPAddr string
	// HostAddresses replace the host candidates' IP addresses in every
	// offer and answer (NAT 1:1), such as the public address of a cloud
	// host whose interfaces have only private ones.
	HostAddresses []string
	// ICEServers are STUN and TURN servers for the relay and, through the
	// video_start command, for the vehicles.
	ICEServers []ICEServer
}

// codecs are the video codecs the relay accepts from vehicles and offers
// to viewers. RTP packets are forwarded unchanged, so a viewer must accept
// the codec its vehicle sends. Every H.264 entry uses packetization mode 1
// (fragmentation units), which browsers and onboard units both support.
var codecs = []webrtc.RTPCodecParameters{
	{RTPCodecCapability: h264Capability("42e01f"), PayloadType: 102},
	{RTPCodecCapability: h264Capability("42001f"), PayloadType: 104},
	{RTPCodecCapability: h264Capability("4d001f"), PayloadType: 106},
	{RTPCodecCapability: h264Capability("640032"), PayloadType: 112},
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback}, PayloadType: 96},
}

var videoFeedback = []webrtc.RTCPFeedback{
	{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"},
}

func h264Capability(profileLevelID string) webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{
		MimeType:     webrtc.MimeTypeH264,
		ClockRate:    90000,
		SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profileLevelID,
		RTCPFeedback: videoFeedback,
	}
}

// RegisterCodecs registers the relay's video codecs on m. The simulator's
// cameras use it too, so both ends agree on payload types.
func RegisterCodecs(m *webrtc.MediaEngine) error {
	for _, c := range codecs {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return fmt.Errorf("register codec %s: %w", c.MimeType, err)
		}
	}
	return nil
}

// transport owns the relay's shared ICE sockets and the pion API built on
// them. The sockets are opened when the first session needs them, so a
// server without viewers never binds the video ports.
type transport struct {
	cfg ICEConfig
	log logging.LoggerFactory

	// mu guards api, udpMux, tcpMux and closed.
	mu     sync.Mutex
	api    *webrtc.API
	udpMux ice.UDPMux
	tcpMux ice.TCPMux
	closed bool
}

var errTransportClosed = errors.New("video relay is closed")

// API returns the pion API with the shared sockets, opening them on first
// use.
func (t *transport) API() (*webrtc.API, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errTransportClosed
	}
	if t.api != nil {
		return t.api, nil
	}
	api, err := t.open()
	if err != nil {
		return nil, err
	}
	t.api = api
	return api, nil
}

func (t *transport) open() (*webrtc.API, error) {
	var se webrtc.SettingEngine
	se.LoggerFactory = t.log
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6})
	// mDNS names in candidates would hide the relay's address from
	// vehicles, which resolve no .local names.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)

	udpHost, udpPort, err := splitHostPort("video.udp_addr", t.cfg.UDPAddr)
	if err != nil {
		return nil, err
	}
	loopback := isLoopbackHost(udpHost)
	se.SetIncludeLoopbackCandidate(loopback)
	if hosts := boundHosts(t.cfg.UDPAddr, t.cfg.TCPAddr); len(hosts) > 0 {
		// Addresses the sockets do not listen on would be candidates no
		// peer can reach.
		se.SetIPFilter(func(ip net.IP) bool { return slices.ContainsFunc(hosts, ip.Equal) })
	}
	if udpHost == "" || net.ParseIP(udpHost).IsUnspecified() {
		mux, err := ice.NewMultiUDPMuxFromPort(udpPort, ice.UDPMuxFromPortWithLogger(t.log.NewLogger("ice")))
		if err != nil {
			return nil, fmt.Errorf("listen for ICE on UDP port %d: %w", udpPort, err)
		}
		t.udpMux = mux
	} else {
		conn, err := net.ListenPacket("udp", t.cfg.UDPAddr)
		if err != nil {
			return nil, fmt.Errorf("listen for ICE on UDP %s: %w", t.cfg.UDPAddr, err)
		}
		t.udpMux = ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: conn, Logger: t.log.NewLogger("ice")})
	}
	se.SetICEUDPMux(t.udpMux)

	if t.cfg.TCPAddr != "" {
		ln, err := net.Listen("tcp", t.cfg.TCPAddr)
		if err != nil {
			t.closeMuxes()
			return nil, fmt.Errorf("listen for ICE-TCP on %s: %w", t.cfg.TCPAddr, err)
		}
		t.tcpMux = ice.NewTCPMuxDefault(ice.TCPMuxParams{Listener: ln, Logger: t.log.NewLogger("ice"), ReadBufferSize: 64, WriteBufferSize: 4 << 20})
		se.SetICETCPMux(t.tcpMux)
	}

	if len(t.cfg.HostAddresses) > 0 {
		err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        t.cfg.HostAddresses,
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		})
		if err != nil {
			t.closeMuxes()
			return nil, fmt.Errorf("set video.host_addresses: %w", err)
		}
	}

	m := &webrtc.MediaEngine{}
	if err := RegisterCodecs(m); err != nil {
		t.closeMuxes()
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.closeMuxes()
		return nil, fmt.Errorf("register interceptors: %w", err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir)), nil
}

// Configuration returns the peer connection configuration with the
// configured STUN and TURN servers.
func (t *transport) Configuration() webrtc.Configuration {
	var cfg webrtc.Configuration
	for _, s := range t.cfg.ICEServers {
		cfg.ICEServers = append(cfg.ICEServers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return cfg
}

func (t *transport) closeMuxes() {
	if t.udpMux != nil {
		_ = t.udpMux.Close()
		t.udpMux = nil
	}
	if t.tcpMux != nil {
		_ = t.tcpMux.Close()
		t.tcpMux = nil
	}
}

// Close closes the shared sockets. Safe to call twice.
func (t *transport) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	t.closeMuxes()
	t.api = nil
}

func splitHostPort(key, addr string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%s %q is not host:port: %w", key, addr, err)
	}
	var n int
	if _, err := fmt.Sscan(p, &n); err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("%s %q: port is not a number in 0..65535", key, addr)
	}
	return h, n, nil
}

// boundHosts returns the IP addresses of listen addresses that name one,
// or nil when any of them listens on every interface.
func boundHosts(addrs ...string) []net.IP {
	var out []net.IP
	for _, a := range addrs {
		if a == "" {
			continue
		}
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			return nil
		}
		if host == "localhost" {
			host = "127.0.0.1"
		}
		ip := net.ParseIP(host)
		if ip == nil || ip.IsUnspecified() {
			return nil
		}
		out = append(out, ip)
	}
	return out
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CandidateWarning returns a warning for the log when no peer outside this
// host or container could reach the relay. That is the case when no NAT
// 1:1 address or TURN server is configured and every address the relay
// would offer is loopback, or private to the container it runs in. It
// returns "" when some address looks reachable.
func CandidateWarning(cfg ICEConfig) string {
	if len(cfg.HostAddresses) > 0 || hasTURN(cfg.ICEServers) {
		return ""
	}
	addrs := candidateAddresses(cfg.UDPAddr)
	if len(addrs) == 0 {
		return "no network address to offer to cameras and viewers; set video.host_addresses to the address they can reach"
	}
	allLoopback, allPrivate := true, true
	for _, ip := range addrs {
		allLoopback = allLoopback && ip.IsLoopback()
		allPrivate = allPrivate && (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast())
	}
	list := joinIPs(addrs)
	switch {
	case allLoopback:
		return "every ICE candidate address is loopback (" + list + "), so only cameras and browsers on this host can connect; set video.udp_addr to a reachable address, or video.host_addresses to the address peers reach this host at"
	case allPrivate && inContainer():
		return "this server runs in a container and every ICE candidate address is private to it (" + list + "); publish video.udp_addr (and video.tcp_addr) and set video.host_addresses to the host's reachable address, or configure a TURN server in video.turn_urls"
	}
	return ""
}

func hasTURN(servers []ICEServer) bool {
	for _, s := range servers {
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:") {
				return true
			}
		}
	}
	return false
}

// candidateAddresses returns the addresses host candidates would carry:
// the UDP address's host, or every interface address when it is
// unspecified.
func candidateAddresses(udpAddr string) []net.IP {
	host, _, err := net.SplitHostPort(udpAddr)
	if err != nil {
		return nil
	}
	if host != "" {
		if host == "localhost" {
			return []net.IP{net.IPv4(127, 0, 0, 1)}
		}
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			return []net.IP{ip}
		}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []net.IP
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				out = append(out, n.IP)
			}
		}
	}
	if len(out) == 0 {
		// Only loopback is up; the mux would offer nothing reachable.
		return []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	return out
}

func joinIPs(ips []net.IP) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ", ")
}

// inContainer reports whether the process runs in a Docker, Podman or
// Kubernetes container, judged by the marker files those runtimes create
// and by the cgroup path of process 1.
func inContainer() bool {
	for _, marker := range []string{"/.dockerenv", "/run/.containerenv"} {
		if _, err := os.Stat(marker); err == nil {
			return true
		}
	}
	b, err := os.ReadFile("/proc/1/cgroup")
	if err != nil {
		return false
	}
	s := string(b)
	return strings.Contains(s, "docker") || strings.Contains(s, "kubepods") || strings.Contains(s, "containerd") || strings.Contains(s, "libpod")
}
