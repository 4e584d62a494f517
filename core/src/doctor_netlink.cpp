// The doctor's requests about one exact socket on NETLINK_SOCK_DIAG: does it still exist,
// how long has its peer been quiet, and SOCK_DESTROY (what `ss -K` sends). Each request names
// the socket by its 4-tuple and its cookie, so a new socket that reuses the 4-tuple is never hit.
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "doctor_detail.hpp"
#include "socklab/error.hpp"

namespace socklab {
namespace {

class DiagSocket {
public:
    DiagSocket() : nl_(mnl_socket_open(NETLINK_SOCK_DIAG)) {
        if (nl_ == nullptr) throw sys_error("open a NETLINK_SOCK_DIAG socket", errno);
        if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
            const int err = errno;
            mnl_socket_close(nl_);
            throw sys_error("bind the NETLINK_SOCK_DIAG socket", err);
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

        std::vector<char> buf(16 * 1024);
        for (;;) {
            const ssize_t got = mnl_socket_recvfrom(nl_, buf.data(), buf.size());
            if (got < 0) {
                if (errno == EINTR) continue;
                throw sys_error("read the sock_diag answer", errno);
            }
            int left = static_cast<int>(got);
            const auto* msg = reinterpret_cast<const nlmsghdr*>(buf.data());
            while (mnl_nlmsg_ok(msg, left)) {
                if (msg->nlmsg_type == NLMSG_ERROR) {
                    if (msg->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr)))
                        throw ParseError("failed to parse a sock_diag answer: truncated error");
                    const auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(msg));
                    return -e->error;
                }
                if (msg->nlmsg_type == NLMSG_DONE) return 0;
                if (msg->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
                    msg->nlmsg_len >= NLMSG_LENGTH(sizeof(inet_diag_msg))) {
                    if (info != nullptr) read_info(msg, *info);
                    return 0;
                }
                msg = mnl_nlmsg_next(msg, &left);
            }
            if (got == 0) return 0;
        }
    }

private:
    static void read_info(const nlmsghdr* msg, tcp_info& info) {
        const auto* m = static_cast<const inet_diag_msg*>(mnl_nlmsg_get_payload(msg));
        const auto* start = reinterpret_cast<const char*>(m) + NLMSG_ALIGN(sizeof *m);
        int left = static_cast<int>(reinterpret_cast<const char*>(msg) + msg->nlmsg_len - start);
        const auto* attr = reinterpret_cast<const nlattr*>(start);
        while (left >= static_cast<int>(sizeof(nlattr))) {
            if (attr->nla_len < sizeof(nlattr) || attr->nla_len > left) return;
            if (mnl_attr_get_type(attr) == INET_DIAG_INFO) {
                std::memcpy(&info, mnl_attr_get_payload(attr),
                            std::min<std::size_t>(mnl_attr_get_payload_len(attr), sizeof info));
                return;
            }
            const int step = static_cast<int>(MNL_ALIGN(attr->nla_len));
            left -= step;
            attr = reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(attr) + step);
        }
    }

    mnl_socket* nl_;
};

}  // namespace

int destroy_socket(const SocketRecord& s) {
    DiagSocket nl;
    return nl.request(s, SOCK_DESTROY, false, nullptr);
}

bool socket_exists(const SocketRecord& s) {
    DiagSocket nl;
    const int err = nl.request(s, SOCK_DIAG_BY_FAMILY, false, nullptr);
    if (err == 0) return true;
    if (err == ENOENT) return false;
    throw sys_error("look up socket " + doctor_detail::describe(s), err);
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
