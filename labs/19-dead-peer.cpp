// Lab 19 — the dead peer: the peer's machine loses its link, so nothing it could send (no FIN,
// no RST) ever arrives. Keepalive probes, then TCP_USER_TIMEOUT on unacknowledged data, end
// the connection with ETIMEDOUT.
//
// The peer lives in a network namespace the lab makes for itself (unshare(CLONE_NEWNET) on
// this thread, then back with setns()), joined to the lab's namespace by a veth pair made over
// rtnetlink (libmnl). Nothing of the host's own interfaces is touched. Everything is removed
// on every way out: the link by RTM_DELLINK in a destructor, the namespace when its last
// descriptor and socket close (it is never named under /run/netns).
#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "labkit.hpp"
#include "socklab/i18n.hpp"

using namespace socklab;
using namespace socklab::lab;

namespace {

constexpr const char* kLabIf = "sl19-lab";
constexpr const char* kPeerIf = "sl19-peer";
constexpr const char* kLabAddr = "10.19.0.1";
constexpr const char* kPeerAddr = "10.19.0.2";
// Locally administered MAC addresses, so each side can know the other's without ARP.
constexpr std::array<unsigned char, 6> kLabMac{0x02, 0x00, 0x0a, 0x13, 0x00, 0x01};
constexpr std::array<unsigned char, 6> kPeerMac{0x02, 0x00, 0x0a, 0x13, 0x00, 0x02};

[[noreturn]] void fail(const std::string& what, int err) {
    throw Stop{Stop::Why::failed,
               i18n::format(_("failed to {}: {}"), what, std::strerror(err))};
}

// One rtnetlink request, answered by an ACK or an error. The socket belongs to the network
// namespace of the thread that opened it.
class Rtnl {
public:
    Rtnl() : nl_(mnl_socket_open(NETLINK_ROUTE)) {
        if (nl_ == nullptr) fail(_("open a NETLINK_ROUTE socket"), errno);
        if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
            const int err = errno;
            mnl_socket_close(nl_);
            fail(_("bind the NETLINK_ROUTE socket"), err);
        }
    }
    ~Rtnl() { mnl_socket_close(nl_); }
    Rtnl(const Rtnl&) = delete;
    Rtnl& operator=(const Rtnl&) = delete;

    // 0, or the kernel's errno.
    int ask(nlmsghdr* nlh) {
        nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
        nlh->nlmsg_seq = ++seq_;
        if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) return errno;
        std::vector<char> buf(static_cast<std::size_t>(MNL_SOCKET_BUFFER_SIZE));
        const auto portid = mnl_socket_get_portid(nl_);
        for (int i = 0; i < 16; ++i) {
            const auto n = mnl_socket_recvfrom(nl_, buf.data(), buf.size());
            if (n < 0) return errno;
            const int r = mnl_cb_run(buf.data(), static_cast<std::size_t>(n), seq_, portid,
                                     nullptr, nullptr);
            if (r < 0) return errno;
            if (r == MNL_CB_STOP) return 0;
        }
        return EPROTO;
    }

private:
    mnl_socket* nl_;
    unsigned seq_ = 0;
};

// Run `fn` with this thread in the namespace `ns_fd`, then come back to `home_fd`.
template <typename F>
auto in_netns(int ns_fd, int home_fd, F&& fn) {
    if (::setns(ns_fd, CLONE_NEWNET) != 0) fail(_("enter the peer's network namespace"), errno);
    struct Back {
        int fd;
        ~Back() { (void)::setns(fd, CLONE_NEWNET); }
    } back{home_fd};
    return fn();
}

// The start of each request below: a netlink header of `type` with `flags`, in `buf`.
nlmsghdr* put_request(std::span<char> buf, std::uint16_t type, std::uint16_t flags = 0) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = flags;
    return nlh;
}

// An IPv4 address from its text, as the kernel takes it.
in_addr ipv4(const char* text) {
    in_addr a{};
    ::inet_pton(AF_INET, text, &a);
    return a;
}

int set_link(Rtnl& nl, const char* ifname, unsigned flags, unsigned change) {
    const unsigned index = ::if_nametoindex(ifname);
    if (index == 0) return errno;
    std::array<char, 512> buf{};
    nlmsghdr* nlh = put_request(buf, RTM_NEWLINK);
    auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = static_cast<int>(index);
    ifi->ifi_flags = flags;
    ifi->ifi_change = change;
    return nl.ask(nlh);
}

int add_address(Rtnl& nl, const char* ifname, const char* addr) {
    const unsigned index = ::if_nametoindex(ifname);
    if (index == 0) return errno;
    const in_addr a = ipv4(addr);
    std::array<char, 512> buf{};
    nlmsghdr* nlh = put_request(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = 30;
    ifa->ifa_index = index;
    mnl_attr_put(nlh, IFA_LOCAL, sizeof a, &a);
    mnl_attr_put(nlh, IFA_ADDRESS, sizeof a, &a);
    return nl.ask(nlh);
}

// A permanent neighbour entry (RTM_NEWNEIGH, NUD_PERMANENT): `addr` is at `mac` on `ifname`.
// Nothing to resolve, so a dead link never makes ARP give up and report "host unreachable" —
// the connection's only news stays silence.
int add_neighbour(Rtnl& nl, const char* ifname, const char* addr,
                  const std::array<unsigned char, 6>& mac) {
    const unsigned index = ::if_nametoindex(ifname);
    if (index == 0) return errno;
    const in_addr a = ipv4(addr);
    std::array<char, 512> buf{};
    nlmsghdr* nlh = put_request(buf, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
    auto* nd = static_cast<ndmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ndmsg)));
    nd->ndm_family = AF_INET;
    nd->ndm_ifindex = static_cast<int>(index);
    nd->ndm_state = NUD_PERMANENT;
    mnl_attr_put(nlh, NDA_DST, sizeof a, &a);
    mnl_attr_put(nlh, NDA_LLADDR, mac.size(), mac.data());
    return nl.ask(nlh);
}

// The peer's namespace and the veth pair to it. Built in steps by the lab, torn down here.
class PeerLink {
public:
    ~PeerLink() { remove(); }

    template <typename F>
    int in_peer(F&& fn) {
        return in_netns(peer_.get(), home_.get(), std::forward<F>(fn));
    }

    // unshare(CLONE_NEWNET) for this thread alone, keep a descriptor of the new namespace,
    // go back home. EPERM without CAP_SYS_ADMIN.
    int make_namespace() {
        home_.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
        if (!home_) return errno;
        if (::unshare(CLONE_NEWNET) != 0) return errno;
        peer_.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
        const int err = peer_ ? 0 : errno;
        if (::setns(home_.get(), CLONE_NEWNET) != 0) fail(_("return to the lab's network namespace"), errno);
        return err;
    }

    // RTM_NEWLINK kind veth, its peer end created straight into the peer's namespace; each
    // side with a permanent neighbour entry for the other (add_neighbour) and up, with 10.19.0.1/30 here and 10.19.0.2/30 there.
    int make_veth() {
        std::array<char, 1024> buf{};
        nlmsghdr* nlh = put_request(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
        auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
        ifi->ifi_family = AF_UNSPEC;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, kLabIf);
        mnl_attr_put(nlh, IFLA_ADDRESS, kLabMac.size(), kLabMac.data());
        nlattr* linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
        nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
        nlattr* peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
        // The peer's own ifinfomsg comes first inside VETH_INFO_PEER.
        auto* pifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
        std::memset(pifi, 0, sizeof *pifi);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, kPeerIf);
        mnl_attr_put(nlh, IFLA_ADDRESS, kPeerMac.size(), kPeerMac.data());
        mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, static_cast<std::uint32_t>(peer_.get()));
        mnl_attr_nest_end(nlh, peer);
        mnl_attr_nest_end(nlh, data);
        mnl_attr_nest_end(nlh, linkinfo);
        Rtnl here;
        if (int e = here.ask(nlh); e != 0) return e;
        made_ = true;
        if (int e = add_address(here, kLabIf, kLabAddr); e != 0) return e;
        if (int e = set_link(here, kLabIf, IFF_UP, IFF_UP); e != 0) return e;
        if (int e = add_neighbour(here, kLabIf, kPeerAddr, kPeerMac); e != 0) return e;
        return in_peer([] {
            Rtnl there;
            if (int e = add_address(there, kPeerIf, kPeerAddr); e != 0) return e;
            if (int e = set_link(there, "lo", IFF_UP, IFF_UP); e != 0) return e;
            if (int e = set_link(there, kPeerIf, IFF_UP, IFF_UP); e != 0) return e;
            return add_neighbour(there, kPeerIf, kLabAddr, kLabMac);
        });
    }

    // The peer's end of the cable, up or down (RTM_NEWLINK in the peer's namespace); a
    // refusal stops the lab.
    void set_peer_up(bool up) {
        const int e = in_peer([up] {
            Rtnl there;
            return set_link(there, kPeerIf, up ? static_cast<unsigned>(IFF_UP) : 0u, IFF_UP);
        });
        if (e != 0) fail(up ? _("bring the peer's link up") : _("take the peer's link down"), e);
    }

    // A socket made in the peer's namespace stays there for its whole life.
    int peer_socket() {
        return in_peer([] { return ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); });
    }

    // RTM_DELLINK of our end removes both ends; then the namespace goes with its last user.
    void remove() noexcept {
        if (made_) {
            try {
                Rtnl here;
                const unsigned index = ::if_nametoindex(kLabIf);
                if (index != 0) {
                    std::array<char, 256> buf{};
                    nlmsghdr* nlh = put_request(buf, RTM_DELLINK);
                    auto* ifi = static_cast<ifinfomsg*>(
                        mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
                    ifi->ifi_family = AF_UNSPEC;
                    ifi->ifi_index = static_cast<int>(index);
                    (void)here.ask(nlh);
                }
            } catch (...) {
            }
            made_ = false;
        }
        peer_.reset();
    }

private:
    UniqueFd home_, peer_;
    bool made_ = false;
};

Endpoint peer_endpoint(std::uint16_t port) { return Endpoint::parse(kPeerAddr, port); }

// For a step after which the connection from local port `local` to `port` is still
// ESTABLISHED. `local` is read when the table is checked: the lab learns it during a step.
std::function<std::vector<Expect>()> still_established(const std::uint16_t& local, std::uint16_t port) {
    return [&local, port] {
        return std::vector<Expect>{{.local_port = local, .remote_port = port, .state = "ESTABLISHED"}};
    };
}

using Clock = std::chrono::steady_clock;
long ms_since(Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

// A dead connection's end, checked: it came `ms` after the moment it is timed from, between
// `low` and `high` (`window_msgid` says so otherwise: ms, low, high), and TCP_INFO says CLOSE.
// "" when both hold.
std::string ended_in_window(int fd, long ms, long low, long high, const char* window_msgid) {
    if (ms < low || ms > high) return i18n::format(_(window_msgid), ms, low, high);
    const auto st = tcp_info_state(fd);
    return st == "CLOSE" ? std::string() : i18n::format(_("TCP_INFO says {}, not CLOSE"), st);
}

// Wait (bounded, Ctrl-C ends it) until the socket is readable, then recv(): how a dead
// connection's error reaches the program.
Result poll_then_recv(int fd, int timeout_ms) {
    std::array<pollfd, 2> p{{{fd, POLLIN, 0}, {Lab::interrupt_fd(), POLLIN, 0}}};
    const int n = ::poll(p.data(), p.size(), timeout_ms);
    if (n < 0) return Result::of(-1);
    if (Lab::interrupted()) throw Stop{Stop::Why::interrupted, {}};
    if (n == 0) return Result::of(0, _("(poll timed out)"));
    char byte = 0;
    return Result::of(::recv(fd, &byte, 1, 0));
}

}  // namespace

int main(int argc, char** argv) {
    Lab runner("dead-peer", argc, argv);
    return runner.run(12, [](Lab& lab) {
        const auto port = lab.port();
        const Endpoint ep = peer_endpoint(port);
        PeerLink link;
        UniqueFd listener, client, served, client2, served2;
        std::uint16_t port1 = 0, port2 = 0;
        Clock::time_point down_at{}, sent_at{};
        constexpr int idle = 1, intvl = 1, cnt = 2;
        constexpr int user_timeout_ms = 2000;
        constexpr int payload = 1000;

        lab.step({.title = _("A network namespace for the peer, and a cable to it"),
                  .call = fmt::format("unshare(CLONE_NEWNET); setns(); RTM_NEWLINK veth {} <-> {} "
                                      "({}/30 <-> {}/30); RTM_NEWNEIGH",
                                      kLabIf, kPeerIf, kLabAddr, kPeerAddr),
                  .explain = _("The peer gets a network stack of its own — its own interfaces, "
                               "routes and socket table — as if it were another machine. A veth "
                               "pair is the cable: what one end sends, the other receives. Each "
                               "side knows the other's MAC address by a permanent neighbour entry, "
                               "so no ARP stands between them."),
                  .expect = {}},
                 [&] {
                     if (const int e = link.make_namespace(); e != 0)
                         throw Stop{Stop::Why::failed,
                                    i18n::format(_("cannot make a network namespace for the peer: "
                                                   "{} (this lab needs root: CAP_SYS_ADMIN and "
                                                   "CAP_NET_ADMIN)"),
                                                 std::strerror(e))};
                     if (const int e = link.make_veth(); e != 0)
                         fail(_("create the veth pair to the peer's namespace"), e);
                     return Result::of(0);
                 });

        lab.step({.title = _("The peer listens, in its own namespace"),
                  .call = fmt::format("socket(); bind({}); listen(fd, 8)", ep.str()),
                  .explain = _("The listener lives in the peer's namespace, so this namespace's "
                               "socket table — what ss shows here — has no LISTEN row for it."),
                  .expect = {{.local_port = port, .state = "LISTEN", .absent = true}}},
                 [&] {
                     listener.reset(link.peer_socket());
                     if (!listener) return Result::of(-1);
                     if (::bind(listener.get(), ep.sa(), ep.len) != 0) return Result::of(-1);
                     return Result::of(::listen(listener.get(), 8));
                 });

        lab.step({.title = _("Connect over the cable; the peer accepts"),
                  .call = fmt::format("socket(); {}; accept()", describe_socket_call("connect", 5, ep)),
                  .explain = _("An ordinary connection between two machines: the client here is "
                               "ESTABLISHED, its peer over there too."),
                  .expect = {},
                  .expect_after = still_established(port1, port)},
                 [&] {
                     client.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
                     if (!client) return Result::of(-1);
                     if (::connect(client.get(), ep.sa(), ep.len) != 0) return Result::of(-1);
                     port1 = local_port_of(client.get());
                     served.reset(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
                     return Result::of(served ? 0 : -1);
                 });

        lab.step({.title = _("Turn keepalive on, with short timers"),
                  .call = fmt::format("setsockopt(5, SO_KEEPALIVE, 1); TCP_KEEPIDLE {}; "
                                      "TCP_KEEPINTVL {}; TCP_KEEPCNT {}",
                                      idle, intvl, cnt),
                  .explain = i18n::format(
                      _("SO_KEEPALIVE makes the kernel probe a connection that has been quiet. "
                        "tcp(7): TCP_KEEPIDLE is the idle time in seconds before the first probe "
                        "(default net.ipv4.tcp_keepalive_time, 7200), TCP_KEEPINTVL the seconds "
                        "between probes (75), TCP_KEEPCNT how many unanswered probes end the "
                        "connection (9). Here: {} s, {} s, {} probes."),
                      idle, intvl, cnt),
                  .expect = {},
                  .expect_after = still_established(port1, port)},
                 [&] {
                     set_int_option(client.get(), SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
                     set_int_option(client.get(), IPPROTO_TCP, TCP_KEEPIDLE, idle, "TCP_KEEPIDLE");
                     set_int_option(client.get(), IPPROTO_TCP, TCP_KEEPINTVL, intvl, "TCP_KEEPINTVL");
                     set_int_option(client.get(), IPPROTO_TCP, TCP_KEEPCNT, cnt, "TCP_KEEPCNT");
                     return Result::of(0);
                 });

        lab.step({.title = _("The peer loses its link"),
                  .call = i18n::format(_("RTM_NEWLINK {} down (in the peer's namespace)"), kPeerIf),
                  .explain = _("The peer's end of the cable goes down: from now on nothing gets "
                               "through, either way. The peer sends no FIN and no RST — it cannot. "
                               "The client is told nothing and still shows ESTABLISHED; `ss -tno` "
                               "shows its keepalive timer running."),
                  .expect = {},
                  .expect_after = still_established(port1, port)},
                 [&] {
                     link.set_peer_up(false);
                     down_at = Clock::now();
                     return Result::of(0);
                 });

        const long ka_low = static_cast<long>(cnt * intvl) * 1000 - 300;
        const long ka_high = static_cast<long>(idle + cnt * intvl) * 1000 + 900;
        lab.step({.title = _("Keepalive probes go unanswered: recv() fails with ETIMEDOUT"),
                  .call = "poll({5, POLLIN}, 10000); recv(5, buf, 1, 0)",
                  .explain = i18n::format(
                      _("After {} s of silence the kernel sends a probe (a segment the peer must "
                        "acknowledge), then one every {} s. When {} probes in a row go "
                        "unanswered it aborts the connection and reports ETIMEDOUT (tcp(7), "
                        "TCP_KEEPCNT). No FIN, no RST: the socket simply goes to CLOSE and leaves "
                        "the table. RFC 9293 §3.8.4 warns against judging one missed probe — "
                        "hence a count."),
                      idle, intvl, cnt),
                  .expect = {{.local_port = port1, .remote_port = port, .state = "ESTABLISHED",
                              .absent = true}},
                  .fails_with = ETIMEDOUT,
                  .verify = [&](const Result&) {
                      return ended_in_window(client.get(), ms_since(down_at), ka_low, ka_high,
                                             N_("it ended {} ms after the link went down, not "
                                                "between {} and {} ms"));
                  }},
                 [&] {
                     auto r = poll_then_recv(client.get(), 10000);
                     r.detail = i18n::format(_("{} ms after the link went down"), ms_since(down_at));
                     return r;
                 });

        lab.step({.title = _("The link comes back"),
                  .call = i18n::format(_("RTM_NEWLINK {} up (in the peer's namespace)"), kPeerIf),
                  .explain = _("The cable works again. The peer's accepted socket never heard of "
                               "any of this: over there it is still ESTABLISHED: nothing told it "
                               "otherwise."),
                  .expect = {}},
                 [&] {
                     link.set_peer_up(true);
                     return Result::of(0);
                 });

        lab.step({.title = _("A second connection, with TCP_USER_TIMEOUT"),
                  .call = fmt::format("socket(); setsockopt(TCP_USER_TIMEOUT, {}); {}; accept()",
                                      user_timeout_ms, describe_socket_call("connect", 7, ep)),
                  .explain = i18n::format(
                      _("TCP_USER_TIMEOUT (tcp(7), RFC 5482) is the longest time, in "
                        "milliseconds, that sent data may stay unacknowledged before the kernel "
                        "closes the connection and reports ETIMEDOUT. Here {} ms; 0, the "
                        "default, leaves it to net.ipv4.tcp_retries2 (minutes)."),
                      user_timeout_ms),
                  .expect = {},
                  .expect_after = still_established(port2, port)},
                 [&] {
                     client2.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
                     if (!client2) return Result::of(-1);
                     set_int_option(client2.get(), IPPROTO_TCP, TCP_USER_TIMEOUT, user_timeout_ms,
                                    "TCP_USER_TIMEOUT");
                     if (::connect(client2.get(), ep.sa(), ep.len) != 0) return Result::of(-1);
                     port2 = local_port_of(client2.get());
                     served2.reset(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
                     return Result::of(served2 ? 0 : -1);
                 });

        lab.step({.title = _("The peer loses its link again"),
                  .call = i18n::format(_("RTM_NEWLINK {} down (in the peer's namespace)"), kPeerIf),
                  .explain = _("Nothing is in flight yet, and no keepalive is set: this "
                               "connection could stay ESTABLISHED like this for ever."),
                  .expect = {},
                  .expect_after = still_established(port2, port)},
                 [&] {
                     link.set_peer_up(false);
                     return Result::of(0);
                 });

        lab.step({.title = _("send() succeeds: the data waits in the send buffer"),
                  .call = fmt::format("send(7, buf, {}, 0)", payload),
                  .explain = _("send() only copies into the kernel's send buffer, so it returns at "
                               "once. The bytes stay in Send-Q. With the peer's end down, this "
                               "end of the cable has no carrier either, so the segment cannot "
                               "even leave this machine: the kernel arms its probe timer, which "
                               "`ss -tno` shows as timer:(persist,...), and tries again and again "
                               "with a doubling interval."),
                  .expect = {},
                  .expect_after = [&] {
                      return std::vector<Expect>{{.local_port = port2, .remote_port = port,
                                                  .state = "ESTABLISHED", .send_q = payload}};
                  }},
                 [&] {
                     const std::string data(payload, 'x');
                     sent_at = Clock::now();
                     return Result::of(::send(client2.get(), data.data(), data.size(), 0));
                 });

        // The kernel checks the user timeout when a probe timer fires, so it ends at the first
        // one past it: between the timeout and about twice it.
        const long ut_low = user_timeout_ms - 100;
        const long ut_high = 2 * user_timeout_ms + 900;
        lab.step({.title = _("The data never gets through: ETIMEDOUT after the user timeout"),
                  .call = "poll({7, POLLIN}, 10000); recv(7, buf, 1, 0)",
                  .explain = i18n::format(
                      _("Every new try fails the same way. Once the data has gone unacknowledged "
                        "for {} ms, the kernel gives up at its next timer, closes the connection "
                        "and reports ETIMEDOUT. Again no FIN and no RST: ESTABLISHED straight to "
                        "CLOSE."),
                      user_timeout_ms),
                  .expect = {{.local_port = port2, .remote_port = port, .state = "ESTABLISHED",
                              .absent = true}},
                  .fails_with = ETIMEDOUT,
                  .verify = [&](const Result&) {
                      return ended_in_window(client2.get(), ms_since(sent_at), ut_low, ut_high,
                                             N_("it ended {} ms after send(), not between {} and "
                                                "{} ms"));
                  }},
                 [&] {
                     auto r = poll_then_recv(client2.get(), 10000);
                     r.detail = i18n::format(_("{} ms after send()"), ms_since(sent_at));
                     return r;
                 });

        lab.step({.title = _("Close everything; remove the cable and the namespace"),
                  .call = i18n::format(_("close() every descriptor; RTM_DELLINK {}"), kLabIf),
                  .explain = _("Deleting one end of a veth pair deletes both. The peer's "
                               "namespace has no name and goes away with its last socket and "
                               "descriptor."),
                  .expect = {{.local_port = port1, .remote_port = port, .absent = true},
                             {.local_port = port2, .remote_port = port, .absent = true}},
                  .verify = [&](const Result&) {
                      return ::if_nametoindex(kLabIf) == 0
                                 ? std::string()
                                 : i18n::format(_("{} is still there"), kLabIf);
                  }},
                 [&] {
                     client.reset();
                     client2.reset();
                     served.reset();
                     served2.reset();
                     listener.reset();
                     link.remove();
                     return Result::of(0);
                 });
    });
}
