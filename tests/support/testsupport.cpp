#include "testsupport.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <cstring>
#include <thread>

#include "socklab/error.hpp"
#include "socklab/state.hpp"

namespace socklab::test {
namespace {

struct SockAddr {
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family = AF_INET;
};

SockAddr make_addr(const std::string& addr, std::uint16_t port) {
    SockAddr a;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
    if (::inet_pton(AF_INET, addr.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        a.len = sizeof *v4;
        a.family = AF_INET;
    } else if (::inet_pton(AF_INET6, addr.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        a.len = sizeof *v6;
        a.family = AF_INET6;
    } else {
        throw Error("failed to parse address '" + addr + "'");
    }
    return a;
}

std::uint16_t port_of(const sockaddr_storage& ss) {
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
}

}  // namespace

UniqueFd request_sock_diag_dump(std::uint8_t family, std::uint8_t protocol, std::uint32_t states,
                                std::uint8_t ext) {
    UniqueFd nl(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (!nl) throw sys_error("open a NETLINK_SOCK_DIAG socket", errno);
    struct {
        nlmsghdr nlh;
        inet_diag_req_v2 req;
    } msg{};
    msg.nlh.nlmsg_len = sizeof msg;
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.nlh.nlmsg_seq = 1;
    msg.req.sdiag_family = family;
    msg.req.sdiag_protocol = protocol;
    msg.req.idiag_states = states;
    msg.req.idiag_ext = ext;
    if (::send(nl.get(), &msg, sizeof msg, 0) < 0) throw sys_error("send the dump request", errno);
    return nl;
}

bool is_root() { return ::geteuid() == 0; }

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (pred()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return pred();
        std::this_thread::sleep_for(interval);
    }
}

UniqueFd tcp_listen(const std::string& addr, std::uint16_t port, int backlog, bool reuseaddr) {
    const auto a = make_addr(addr, port);
    UniqueFd fd(::socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw sys_error("create a TCP socket", errno);
    const int one = 1;
    if (reuseaddr && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        throw sys_error("set SO_REUSEADDR", errno);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&a.ss), a.len) != 0)
        throw sys_error("bind " + addr + ":" + std::to_string(port), errno);
    if (::listen(fd.get(), backlog) != 0) throw sys_error("listen", errno);
    return fd;
}

UniqueFd tcp_connect(const std::string& addr, std::uint16_t port, bool nonblocking) {
    const auto a = make_addr(addr, port);
    UniqueFd fd(::socket(a.family, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0));
    if (!fd) throw sys_error("create a TCP socket", errno);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&a.ss), a.len) != 0 &&
        !(nonblocking && errno == EINPROGRESS))
        throw sys_error("connect to " + addr + ":" + std::to_string(port), errno);
    return fd;
}

UniqueFd tcp_accept(int listen_fd, std::chrono::milliseconds timeout) {
    pollfd p{listen_fd, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (n <= 0) throw Error("failed to accept: no connection within the timeout");
    UniqueFd fd(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
    if (!fd) throw sys_error("accept", errno);
    return fd;
}

UniqueFd udp_bind(const std::string& addr, std::uint16_t port) {
    const auto a = make_addr(addr, port);
    UniqueFd fd(::socket(a.family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) throw sys_error("create a UDP socket", errno);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&a.ss), a.len) != 0)
        throw sys_error("bind " + addr + ":" + std::to_string(port), errno);
    return fd;
}

std::uint16_t local_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
        throw sys_error("getsockname", errno);
    return port_of(ss);
}

std::uint16_t remote_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
        throw sys_error("getpeername", errno);
    return port_of(ss);
}

std::vector<SocketRecord> sockets_on_port(Source& src, std::uint16_t port) {
    Query q;
    q.port = port;
    return src.snapshot(q).sockets;
}

bool wait_for_state(Source& src, std::uint16_t local, std::uint16_t remote, std::uint8_t state,
                    std::chrono::milliseconds timeout) {
    return wait_until(
        [&] {
            for (const auto& r : sockets_on_port(src, local))
                if (r.local_port == local && (remote == 0 || r.remote_port == remote) &&
                    r.state == state)
                    return true;
            return false;
        },
        timeout);
}

CommandResult run_command(const std::vector<std::string>& argv, std::string_view input,
                          std::chrono::milliseconds timeout) {
    CommandResult res;
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 ||
        ::pipe2(err_pipe, O_CLOEXEC) != 0)
        throw sys_error("create pipes", errno);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw sys_error("fork", errno);
    if (pid == 0) {
        ::setpgid(0, 0);
        ::dup2(in_pipe[0], 0);
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
        ::execvp(args[0], args.data());
        std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
        ::_exit(127);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    // Feed stdin from a thread so a child that writes a lot before reading cannot deadlock us.
    std::thread feeder([fd = in_pipe[1], data = std::string(input)] {
        ::signal(SIGPIPE, SIG_IGN);
        std::size_t off = 0;
        while (off < data.size()) {
            const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
            if (n <= 0) break;
            off += static_cast<std::size_t>(n);
        }
        ::close(fd);
    });
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int open_fds = 2;
    char buf[4096];
    while (open_fds > 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            res.timed_out = true;
            ::kill(-pid, SIGKILL);
            break;
        }
        if (::poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
            if (n > 0) {
                (i == 0 ? res.out : res.err).append(buf, static_cast<std::size_t>(n));
            } else {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            }
        }
    }
    for (auto& f : fds)
        if (f.fd >= 0) ::close(f.fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    feeder.join();
    if (WIFEXITED(status) && !res.timed_out) res.exit_code = WEXITSTATUS(status);
    return res;
}

bool have_program(const std::string& program) {
    return run_command({"which", program}, {}, std::chrono::seconds(10)).exit_code == 0;
}

PrivateNetns::PrivateNetns() : original_(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) {
    if (!original_) throw sys_error("open the current network namespace", errno);
    if (::unshare(CLONE_NEWNET) != 0) throw sys_error("unshare(CLONE_NEWNET) (needs root)", errno);
    UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (!s || ::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) throw sys_error("read lo's flags", errno);
    ifr.ifr_flags |= IFF_UP;
    if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) throw sys_error("bring lo up", errno);
}

PrivateNetns::~PrivateNetns() {
    if (::setns(original_.get(), CLONE_NEWNET) != 0)
        std::fprintf(stderr, "failed to return to the original network namespace: %s\n",
                     std::strerror(errno));
}

std::uint16_t make_time_wait(bool reuseaddr) {
    auto src = make_netlink_source();
    auto l = tcp_listen("127.0.0.1", 0, 16, reuseaddr);
    const auto port = local_port(l.get());
    auto c = tcp_connect("127.0.0.1", port);
    auto a = tcp_accept(l.get());
    a.reset();
    EXPECT_TRUE(wait_for_state(*src, port, 0, static_cast<std::uint8_t>(TcpState::fin_wait2)));
    c.reset();
    EXPECT_TRUE(wait_for_state(*src, port, 0, static_cast<std::uint8_t>(TcpState::time_wait)));
    return port;
}

TempDir::TempDir(std::string_view prefix) {
    std::string tmpl = "/tmp/" + std::string(prefix) + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw sys_error("create a directory " + tmpl, errno);
    path = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
}

LabEvent read_lab_line(std::string_view line) {
    auto r = parse_lab_line(line);
    if (!r) {
        ADD_FAILURE() << "the lab printed a line the protocol reader refuses (" << r.error
                      << "): " << line;
        return {};
    }
    return std::move(*r.event);
}

std::vector<std::string> states_in_choice(const std::string& choice) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= choice.size()) {
        auto end = choice.find(" / ", start);
        if (end == std::string::npos) end = choice.size();
        const auto part = choice.substr(start, end - start);
        const auto sp = part.rfind(' ');
        const bool absent = sp != std::string::npos && sp >= 4 && part.substr(sp - 4, 4) == ": no";
        out.push_back((absent ? "no " : "") + part.substr(sp + 1));
        start = end + 3;
    }
    return out;
}

}  // namespace socklab::test
