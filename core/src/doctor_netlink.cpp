// The doctor's requests about one exact socket on NETLINK_SOCK_DIAG: does it still exist,
// how long has its peer been quiet, and SOCK_DESTROY (what `ss -K` sends). Each request names
// the socket by its 4-tuple and its cookie, so a new socket that reuses the 4-tuple is never hit.
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <span>
#include <vector>

#include "doctor_detail.hpp"
#include "socklab/error.hpp"
#include "socklab/source.hpp"
#include "socklab/i18n.hpp"

namespace socklab {
namespace {

class DiagSocket {
public:
    DiagSocket() : nl_(mnl_socket_open(NETLINK_SOCK_DIAG)) {
        if (nl_ == nullptr) throw sys_error("open a NETLINK_SOCK_DIAG socket", errno);
        if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
            const int err = errno;
            mnl_socket_close(nl_);
            throw sys_error(_("bind the NETLINK_SOCK_DIAG socket"), err);
        }
    }
    ~DiagSocket() { mnl_socket_close(nl_); }
    DiagSocket(const DiagSocket&) = delete;
    DiagSocket& operator=(const DiagSocket&) = delete;

    // Send one request about `s`; returns 0 or a positive errno from the kernel's answer.
    // When the answer is a SOCK_DIAG_BY_FAMILY message, `info` receives its TCP_INFO.
    int request(const SocketRecord& s, std::uint16_t type, bool want_info, tcp_info* info) {
        std::array<char, 512> req_buf{};
        nlmsghdr* nlh = mnl_nlmsg_put_header(req_buf.data());
        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST | (type == SOCK_DESTROY ? NLM_F_ACK : 0);
        nlh->nlmsg_seq = 1;
        auto* req = static_cast<inet_diag_req_v2*>(
            mnl_nlmsg_put_extra_header(nlh, sizeof(inet_diag_req_v2)));
        req->sdiag_family = s.family;
        req->sdiag_protocol = s.proto == Proto::tcp ? IPPROTO_TCP : IPPROTO_UDP;
        req->idiag_states = ~0u;
        if (want_info) req->idiag_ext |= 1u << (INET_DIAG_INFO - 1);
        req->id.idiag_sport = htons(s.local_port);
        req->id.idiag_dport = htons(s.remote_port);
        const std::size_t n = s.family == AF_INET ? 4 : 16;
        std::memcpy(req->id.idiag_src, s.local_addr.bytes.data(), n);
        std::memcpy(req->id.idiag_dst, s.remote_addr.bytes.data(), n);
        req->id.idiag_if = s.ifindex;
        req->id.idiag_cookie[0] = static_cast<std::uint32_t>(s.cookie);
        req->id.idiag_cookie[1] = static_cast<std::uint32_t>(s.cookie >> 32);
        if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0)
            throw sys_error("send a sock_diag request", errno);

        std::vector<char> buf(16 * 1024);  // the kernel's answer about one socket is small
        for (;;) {
            const ssize_t got = mnl_socket_recvfrom(nl_, buf.data(), buf.size());
            if (got < 0) {
                if (errno == EINTR) continue;
                throw sys_error(_("read the sock_diag answer"), errno);
            }
            if (got == 0) return 0;
            const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(buf.data()),
                                                   static_cast<std::size_t>(got));
            if (const auto verdict = parse::exact_answer(bytes, info)) return *verdict;
        }
    }

private:
    mnl_socket* nl_;
};

[[noreturn]] void bad_answer(const std::string& why) {
    throw ParseError(_("failed to parse a sock_diag answer: ") + why);
}

void read_info(const char* payload, std::size_t len, tcp_info& info) {
    // Attributes follow the fixed inet_diag_msg, each within the message.
    std::size_t off = NLMSG_ALIGN(sizeof(inet_diag_msg));
    while (off + sizeof(nlattr) <= len) {
        nlattr a;
        std::memcpy(&a, payload + off, sizeof a);
        if (a.nla_len < sizeof(nlattr) || a.nla_len > len - off) bad_answer(_("attribute overruns the message"));
        if ((a.nla_type & NLA_TYPE_MASK) == INET_DIAG_INFO) {
            info = tcp_info{};
            std::memcpy(&info, payload + off + NLA_HDRLEN,
                        std::min<std::size_t>(a.nla_len - NLA_HDRLEN, sizeof info));
            return;
        }
        off += NLA_ALIGN(a.nla_len);
    }
}

}  // namespace

namespace parse {

std::optional<int> exact_answer(std::span<const std::byte> bytes, tcp_info* info) {
    // Copied into aligned memory and read with explicit bounds: any bytes in, a verdict, nullopt
    // or a ParseError out (fuzz_netlink feeds it).
    const auto* p = reinterpret_cast<const char*>(bytes.data());
    std::size_t left = bytes.size();
    while (left > 0) {
        nlmsghdr h;
        if (left < sizeof h) bad_answer(_("truncated header"));
        std::memcpy(&h, p, sizeof h);
        if (h.nlmsg_len < sizeof h || h.nlmsg_len > left) bad_answer(_("truncated message"));
        const char* payload = p + NLMSG_HDRLEN;
        const std::size_t payload_len = h.nlmsg_len - std::min<std::size_t>(h.nlmsg_len, NLMSG_HDRLEN);
        if (h.nlmsg_type == NLMSG_ERROR) {
            if (h.nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) bad_answer(_("truncated error"));
            nlmsgerr e;
            std::memcpy(&e, payload, sizeof e);
            // 0 is an acknowledgement; an errno is negative, and INT_MIN has no positive one.
            if (e.error > 0 || e.error == INT_MIN) bad_answer(_("bad error code"));
            return -e.error;
        }
        if (h.nlmsg_type == NLMSG_DONE) return 0;
        if (h.nlmsg_type == SOCK_DIAG_BY_FAMILY) {
            if (payload_len < sizeof(inet_diag_msg)) bad_answer(_("truncated socket message"));
            if (info != nullptr) read_info(payload, payload_len, *info);
            return 0;
        }
        const std::size_t step = std::min<std::size_t>(NLMSG_ALIGN(h.nlmsg_len), left);
        p += step;
        left -= step;
    }
    return std::nullopt;
}

}  // namespace parse

int destroy_socket(const SocketRecord& s) {
    DiagSocket nl;
    return nl.request(s, SOCK_DESTROY, false, nullptr);
}

bool socket_exists(const SocketRecord& s) {
    DiagSocket nl;
    const int err = nl.request(s, SOCK_DIAG_BY_FAMILY, false, nullptr);
    if (err == 0) return true;
    // ESTALE: a socket with this 4-tuple exists, but with another cookie: not this one.
    if (err == ENOENT || err == ESTALE) return false;
    throw sys_error(_("look up socket ") + doctor_detail::describe(s), err);
}

namespace doctor_detail {

std::optional<std::uint32_t> last_ack_recv_ms(const SocketRecord& s) {
    if (s.proto != Proto::tcp || s.cookie == 0) return std::nullopt;
    try {
        DiagSocket nl;
        tcp_info info{};
        info.tcpi_state = 0;
        if (nl.request(s, SOCK_DIAG_BY_FAMILY, true, &info) != 0 || info.tcpi_state == 0)
            return std::nullopt;
        return info.tcpi_last_ack_recv;
    } catch (const Error&) {
        return std::nullopt;
    }
}

}  // namespace doctor_detail
}  // namespace socklab
