// NETLINK_SOCK_DIAG source: one dump per protocol and address family (TCP: both families in
// one dump where the kernel allows), built and walked with libmnl. A port filter is compiled to inet_diag bytecode so the kernel skips
// everything else.
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "socklab/error.hpp"
#include "socklab/source.hpp"

namespace socklab {
namespace {

// Large enough for the biggest skb a dump hands out (the kernel caps it near 32 KiB).
constexpr std::size_t kRecvBufferSize = 64 * 1024;

void fill_record(const inet_diag_msg& m, Proto proto, SocketRecord& r) {
    r.proto = proto;
    r.family = m.idiag_family;
    r.state = m.idiag_state;
    // The kernel reports a bound, inactive TCP socket as CLOSE (see state.hpp).
    if (proto == Proto::tcp && r.state == static_cast<std::uint8_t>(TcpState::close))
        r.state = static_cast<std::uint8_t>(TcpState::bound_inactive);
    if (m.idiag_family == AF_INET) {
        r.local_addr = IpAddr::v4(&m.id.idiag_src[0]);
        r.remote_addr = IpAddr::v4(&m.id.idiag_dst[0]);
    } else {
        r.local_addr = IpAddr::v6(&m.id.idiag_src[0]);
        r.remote_addr = IpAddr::v6(&m.id.idiag_dst[0]);
    }
    r.local_port = ntohs(m.id.idiag_sport);
    r.remote_port = ntohs(m.id.idiag_dport);
    r.recv_q = m.idiag_rqueue;
    r.send_q = m.idiag_wqueue;
    r.timer = m.idiag_timer <= 4 ? static_cast<TimerKind>(m.idiag_timer) : TimerKind::none;
    r.timer_ms = r.timer == TimerKind::none ? 0 : m.idiag_expires;
    r.retransmits = m.idiag_retrans;
    r.uid = m.idiag_uid;
    r.inode = m.idiag_inode;
    r.ifindex = m.id.idiag_if;
    r.cookie = static_cast<std::uint64_t>(m.id.idiag_cookie[0]) |
               (static_cast<std::uint64_t>(m.id.idiag_cookie[1]) << 32);
}

void read_tcp_info(const nlattr* attr, SocketRecord& r) {
    // Older kernels send a shorter struct; copy what is there and leave the rest zero.
    tcp_info info{};
    const auto len = mnl_attr_get_payload_len(attr);
    std::memcpy(&info, mnl_attr_get_payload(attr), std::min<std::size_t>(len, sizeof info));
    TcpInfoLite lite;
    lite.state = info.tcpi_state;
    lite.retransmits = info.tcpi_retransmits;
    lite.rtt_us = info.tcpi_rtt;
    lite.rttvar_us = info.tcpi_rttvar;
    lite.snd_cwnd = info.tcpi_snd_cwnd;
    lite.unacked = info.tcpi_unacked;
    lite.total_retrans = info.tcpi_total_retrans;
    r.tcp_info = lite;
}

// Port filter "sport == P || dport == P" in inet_diag bytecode. A jump to exactly the end
// accepts, a jump past it (len + 4) rejects, and every "no" target must be reachable along
// the "yes" chain (inet_diag_bc_audit), hence the JMP between the two comparisons:
//   [S_EQ yes->JMP no->D_EQ][P] [JMP ->end] [D_EQ yes->end no->reject][P]
std::array<inet_diag_bc_op, 5> port_filter(std::uint16_t port) {
    return {{
        {INET_DIAG_BC_S_EQ, 8, 12},
        {0, 0, port},
        {INET_DIAG_BC_JMP, 4, 12},
        {INET_DIAG_BC_D_EQ, 8, 12},
        {0, 0, port},
    }};
}

class NetlinkSource final : public Source {
public:
    NetlinkSource() : nl_(open_socket()), buf_(kRecvBufferSize) {}
    ~NetlinkSource() override { mnl_socket_close(nl_); }
    NetlinkSource(const NetlinkSource&) = delete;
    NetlinkSource& operator=(const NetlinkSource&) = delete;

    std::string_view name() const noexcept override { return "netlink"; }

    void snapshot_into(const Query& q, Snapshot& out) override {
        const auto start = std::chrono::steady_clock::now();
        out.sockets.clear();
        reserve_for(q, out.sockets);
        out.taken_ns = monotonic_ns();
        out.source = "netlink";
        if (stale_) {
            // A dump that failed half way may have left its remaining messages queued on the
            // socket; a new socket guarantees the next dump reads only its own answer.
            mnl_socket* fresh = open_socket();
            mnl_socket_close(nl_);
            nl_ = fresh;
            stale_ = false;
        }
        const std::array<std::uint8_t, 2> families{AF_INET, AF_INET6};
        for (Proto proto : {Proto::tcp, Proto::udp}) {
            if ((proto == Proto::tcp && !q.tcp) || (proto == Proto::udp && !q.udp)) continue;
            // Both TCP families in one walk of the kernel's tables where it can (see below).
            if (proto == Proto::tcp && q.ipv4 && q.ipv6 && tcp_both_families_ &&
                dump_tcp_both_families(q, out.sockets))
                continue;
            for (std::uint8_t family : families) {
                if ((family == AF_INET && !q.ipv4) || (family == AF_INET6 && !q.ipv6)) continue;
                dump(q, proto, family, out.sockets);
            }
        }
        last_count_ = out.sockets.size();
        out.cost = std::chrono::steady_clock::now() - start;
    }

private:
    // Room for the whole answer before the dump starts. Growing a vector of 100k records by
    // doubling copies them over and over, and first touches of fresh memory are page faults
    // (costly under a hypervisor): together they cost more than parsing. A poller's table
    // changes little, so the last count plus a margin is the guess; a first snapshot asks the
    // kernel's counters (/proc/net/sockstat) instead. A port filter's answer is small.
    void reserve_for(const Query& q, std::vector<SocketRecord>& v) const {
        std::size_t want = last_count_ + last_count_ / 8;
        if (last_count_ == 0 && !q.port) want = sockstat_estimate(q) + 64;
        if (want <= v.capacity()) return;
        v.reserve(want);
        // Huge pages for a large, still untouched buffer: 2 MiB per fault instead of 4 KiB.
        // Only advice: where THP is off the kernel ignores it.
        const std::size_t bytes = v.capacity() * sizeof(SocketRecord);
        constexpr std::uintptr_t kHuge = 2u << 20;
        if (bytes < 2 * kHuge) return;
        const auto begin = reinterpret_cast<std::uintptr_t>(v.data());
        const std::uintptr_t first = (begin + kHuge - 1) & ~(kHuge - 1);
        const std::uintptr_t last = (begin + bytes) & ~(kHuge - 1);
        if (last > first)
            (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
    }

    // Sockets the kernel counts in this thread's namespace: "TCP: inuse N orphan O tw T",
    // "UDP: inuse N" and the same for TCP6/UDP6 in sockstat6. 0 when unreadable.
    static std::size_t sockstat_estimate(const Query& q) {
        std::size_t total = 0;
        char buf[1024];
        for (const char* file : {"/proc/thread-self/net/sockstat", "/proc/thread-self/net/sockstat6"}) {
            const int fd = ::open(file, O_RDONLY | O_CLOEXEC);
            if (fd < 0) continue;
            const ssize_t n = ::read(fd, buf, sizeof buf - 1);
            ::close(fd);
            if (n <= 0) continue;
            buf[n] = '\0';
            const std::string_view text(buf, static_cast<std::size_t>(n));
            auto count = [&](std::string_view key) -> std::size_t {
                const auto at = text.find(key);
                if (at == std::string_view::npos) return 0;
                return std::strtoull(buf + at + key.size(), nullptr, 10);
            };
            if (q.tcp) total += count("TCP: inuse ") + count("TCP6: inuse ") + count(" tw ");
            if (q.udp) total += count("UDP: inuse ") + count("UDP6: inuse ");
        }
        return std::min<std::size_t>(total, 4'000'000);  // a corrupt number must not OOM us
    }

    static mnl_socket* open_socket() {
        mnl_socket* nl = mnl_socket_open(NETLINK_SOCK_DIAG);
        if (nl == nullptr)
            throw sys_error("open a NETLINK_SOCK_DIAG socket (is CONFIG_INET_DIAG enabled?)",
                            errno);
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
            const int err = errno;
            mnl_socket_close(nl);
            throw sys_error("bind the NETLINK_SOCK_DIAG socket", err);
        }
        return nl;
    }

    // Every SOCK_DIAG_BY_FAMILY dump names one address family, and the kernel walks its whole
    // TCP hash tables for each one, skipping the other family's sockets: at 100k sockets one
    // walk costs about as much system time as `list` spends formatting. The older
    // TCPDIAG_GETSOCK request (struct inet_diag_req, still served by inet_diag) dumps both
    // families in a single walk, with the same messages, state mask, extensions and bytecode.
    // A kernel that no longer serves it answers with an error before any socket: then this
    // returns false, and that request is not tried again.
    bool dump_tcp_both_families(const Query& q, std::vector<SocketRecord>& out) {
        std::array<char, 512> req_buf{};
        nlmsghdr* nlh = mnl_nlmsg_put_header(req_buf.data());
        nlh->nlmsg_type = TCPDIAG_GETSOCK;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        nlh->nlmsg_seq = ++seq_;
        auto* req = static_cast<inet_diag_req*>(mnl_nlmsg_put_extra_header(nlh, sizeof(inet_diag_req)));
        req->idiag_family = AF_INET;  // ignored by the kernel for a dump: both are walked
        req->idiag_states = q.states;
        if (q.tcp_info) req->idiag_ext |= 1u << (INET_DIAG_INFO - 1);
        if (exchange(nlh, q, Proto::tcp, out, /*may_be_refused=*/true)) return true;
        tcp_both_families_ = false;
        return false;
    }

    // Add the port filter to the request in `nlh`, send it and read the whole dump into `out`.
    // With `may_be_refused`, a kernel that refuses the request outright (an error before any
    // socket) makes this return false with nothing read; otherwise its error is thrown.
    bool exchange(nlmsghdr* nlh, const Query& q, Proto proto, std::vector<SocketRecord>& out,
                  bool may_be_refused) {
        if (q.port) {
            const auto ops = port_filter(*q.port);
            mnl_attr_put(nlh, INET_DIAG_REQ_BYTECODE, sizeof ops, ops.data());
        }
        if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0)
            throw sys_error("send the sock_diag dump request", errno);
        const std::size_t first = out.size();
        stale_ = true;
        bool first_read = true;
        for (;;) {
            const ssize_t n = mnl_socket_recvfrom(nl_, buf_.data(), buf_.size());
            if (n < 0) {
                if (errno == EINTR) continue;
                throw sys_error("read the sock_diag dump", errno);
            }
            if (n == 0) break;
            if (may_be_refused && first_read && refused(buf_.data(), static_cast<std::size_t>(n))) {
                stale_ = false;
                return false;
            }
            first_read = false;
            const auto bytes = std::span<const std::byte>(
                reinterpret_cast<const std::byte*>(buf_.data()), static_cast<std::size_t>(n));
            if (parse::netlink_dump(bytes, proto, out)) break;
        }
        stale_ = false;
        keep_states(q, out, first);
        return true;
    }

    // The answer is a single NLMSG_ERROR with a non-zero error: the request itself was refused.
    static bool refused(const char* data, std::size_t n) {
        if (n < NLMSG_LENGTH(sizeof(nlmsgerr))) return false;
        nlmsghdr h;
        std::memcpy(&h, data, sizeof h);
        if (h.nlmsg_type != NLMSG_ERROR || h.nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return false;
        nlmsgerr e;
        std::memcpy(&e, data + NLMSG_HDRLEN, sizeof e);
        return e.error < 0;
    }

    // The kernel applied the port bytecode and the state mask already; this pass only guards
    // against a kernel that ignores a bit, and costs one compare per record.
    static void keep_states(const Query& q, std::vector<SocketRecord>& out, std::size_t first) {
        std::size_t kept = first;
        for (std::size_t i = first; i < out.size(); ++i) {
            if (!state_in_mask(q.states, out[i].state)) continue;
            if (kept != i) out[kept] = out[i];
            ++kept;
        }
        out.resize(kept);
    }

    void dump(const Query& q, Proto proto, std::uint8_t family, std::vector<SocketRecord>& out) {
        std::array<char, 512> req_buf{};
        nlmsghdr* nlh = mnl_nlmsg_put_header(req_buf.data());
        nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        nlh->nlmsg_seq = ++seq_;
        auto* req = static_cast<inet_diag_req_v2*>(
            mnl_nlmsg_put_extra_header(nlh, sizeof(inet_diag_req_v2)));
        req->sdiag_family = family;
        req->sdiag_protocol = proto == Proto::tcp ? IPPROTO_TCP : IPPROTO_UDP;
        req->idiag_states = q.states;
        if (q.tcp_info && proto == Proto::tcp) req->idiag_ext |= 1u << (INET_DIAG_INFO - 1);
        (void)exchange(nlh, q, proto, out, /*may_be_refused=*/false);
    }

    mnl_socket* nl_;
    std::vector<char> buf_;
    std::uint32_t seq_ = 0;
    bool stale_ = false;  // a dump was cut short: reopen before the next one
    bool tcp_both_families_ = true;  // TCPDIAG_GETSOCK not refused (yet)
    std::size_t last_count_ = 0;
};

}  // namespace

namespace parse {

namespace {

[[noreturn]] void bad_message(const std::string& why) {
    throw ParseError("failed to parse a sock_diag message: " + why +
                     " (a truncated or corrupt dump): run the command again; if it keeps "
                     "happening, report it with the output of uname -r");
}

bool walk(const char* p, int left, Proto proto, std::vector<SocketRecord>& out) {
    // Lengths are checked here rather than with mnl_nlmsg_ok()/mnl_nlmsg_next(): those compare
    // nlmsg_len as a signed int, so a length >= 2^31 passes and walks off the buffer.
    while (left > 0) {
        const auto* nlh = reinterpret_cast<const nlmsghdr*>(p);
        if (left < static_cast<int>(sizeof(nlmsghdr)) || nlh->nlmsg_len < sizeof(nlmsghdr) ||
            nlh->nlmsg_len > static_cast<std::uint32_t>(left))
            bad_message("truncated netlink header (" + std::to_string(left) + " bytes left)");
        if (nlh->nlmsg_type == NLMSG_DONE) {
            // A dump that failed in the kernel ends with DONE carrying a negative errno.
            if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
                int err = 0;
                std::memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof err);
                if (err == INT_MIN) bad_message("NLMSG_DONE with a bad error code");
                if (err < 0) throw sys_error("dump sockets through sock_diag", -err);
            }
            return true;
        }
        if (nlh->nlmsg_type == NLMSG_ERROR) {
            if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) bad_message("truncated NLMSG_ERROR");
            const auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
            if (e->error == 0) return true;
            // INT_MIN has no positive counterpart: keep it malformed rather than overflow.
            if (e->error > 0 || e->error == INT_MIN) bad_message("NLMSG_ERROR with a bad error code");
            throw sys_error("dump sockets through sock_diag", -e->error);
        }
        // TCPDIAG_GETSOCK answers carry the request's type; the payload is the same.
        if (nlh->nlmsg_type == SOCK_DIAG_BY_FAMILY || nlh->nlmsg_type == TCPDIAG_GETSOCK) {
            if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg)))
                bad_message(std::to_string(nlh->nlmsg_len) +
                            " bytes is shorter than header plus inet_diag_msg");
            const auto* m = static_cast<const inet_diag_msg*>(mnl_nlmsg_get_payload(nlh));
            if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6)
                bad_message("unknown address family " + std::to_string(m->idiag_family));
            SocketRecord& r = out.emplace_back();
            fill_record(*m, proto, r);
            // Attributes follow the fixed header; walk them with bounds checks.
            const auto* attr_start = reinterpret_cast<const char*>(m) + NLMSG_ALIGN(sizeof *m);
            int attr_left = static_cast<int>(reinterpret_cast<const char*>(nlh) + nlh->nlmsg_len -
                                             attr_start);
            const auto* attr = reinterpret_cast<const nlattr*>(attr_start);
            while (attr_left >= static_cast<int>(sizeof(nlattr))) {
                if (attr->nla_len < sizeof(nlattr) || attr->nla_len > attr_left) {
                    out.pop_back();
                    bad_message("attribute length " + std::to_string(attr->nla_len) +
                                " overruns the message");
                }
                if (mnl_attr_get_type(attr) == INET_DIAG_INFO && proto == Proto::tcp)
                    read_tcp_info(attr, r);
                const int step = static_cast<int>(MNL_ALIGN(attr->nla_len));
                attr_left -= step;
                attr = reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(attr) + step);
            }
        }
        // nlmsg_len <= left <= INT_MAX, so the aligned step cannot overflow.
        const int step = static_cast<int>(NLMSG_ALIGN(nlh->nlmsg_len));
        left -= step;
        p += step;
    }
    return false;
}

}  // namespace

bool netlink_dump(std::span<const std::byte> bytes, Proto proto, std::vector<SocketRecord>& out) {
    if (bytes.size() > static_cast<std::size_t>(INT_MAX))
        bad_message("a buffer of " + std::to_string(bytes.size()) + " bytes is too large");
    if (bytes.empty()) return false;
    const auto* p = reinterpret_cast<const char*>(bytes.data());
    // Messages are read in place; the kernel's buffers are aligned, but a caller's bytes may
    // not be, and a misaligned nlmsghdr is undefined behaviour: copy those first.
    if (reinterpret_cast<std::uintptr_t>(p) % alignof(nlmsghdr) != 0) {
        std::vector<std::uint32_t> aligned((bytes.size() + 3) / 4);
        std::memcpy(aligned.data(), p, bytes.size());
        return walk(reinterpret_cast<const char*>(aligned.data()),
                    static_cast<int>(bytes.size()), proto, out);
    }
    return walk(p, static_cast<int>(bytes.size()), proto, out);
}

}  // namespace parse

std::unique_ptr<Source> make_netlink_source() { return std::make_unique<NetlinkSource>(); }

}  // namespace socklab
