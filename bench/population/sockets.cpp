#include "sockets.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "socklab/error.hpp"

namespace socklab::bench {
namespace {

// Well below any backlog we ask for, so a batch of connects never overflows the accept queue.
constexpr std::size_t kBatch = 256;

sockaddr_in to_sockaddr(const Endpoint& e) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(e.addr);
    sa.sin_port = htons(e.port);
    return sa;
}

std::string to_string(const Endpoint& e) {
    in_addr a{};
    a.s_addr = htonl(e.addr);
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &a, text, sizeof text);
    return std::string(text) + ":" + std::to_string(e.port);
}

int ms_left(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return static_cast<int>(std::clamp<long long>(left.count(), 0, 60'000));
}

[[noreturn]] void timed_out(const std::string& what) {
    throw Error("failed to " + what + ": timed out; the machine may be overloaded, retry or give "
                "--setup-timeout more seconds");
}

// Wait until every fd in `fds` reports `events` (or the deadline passes).
void wait_all(std::vector<pollfd>& fds, short events, Clock::time_point deadline, const std::string& what) {
    for (auto& p : fds) p.events = events;
    std::size_t pending = fds.size();
    while (pending > 0) {
        const int left = ms_left(deadline);
        if (left == 0) timed_out(what);
        const int n = ::poll(fds.data(), fds.size(), left);
        if (n < 0 && errno != EINTR) throw sys_error(what, errno);
        for (auto& p : fds) {
            if (p.fd >= 0 && (p.revents & (events | POLLERR | POLLHUP))) {
                p.fd = -p.fd - 1;  // poll() skips negative fds: done with this one
                --pending;
            }
        }
    }
}

}  // namespace

UniqueFd listen_on(Endpoint& where, int backlog) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw sys_error("create a TCP socket", errno);
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    const sockaddr_in sa = to_sockaddr(where);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0)
        throw sys_error("bind " + to_string(where), errno);
    if (::listen(fd.get(), backlog) != 0) throw sys_error("listen on " + to_string(where), errno);
    sockaddr_in bound{};
    socklen_t len = sizeof bound;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0)
        throw sys_error("read the port of " + to_string(where), errno);
    where.port = ntohs(bound.sin_port);
    return fd;
}

void connect_pairs(int listen_fd, const Endpoint& to, std::size_t count, std::vector<Pair>& out,
                   Clock::time_point deadline) {
    const sockaddr_in sa = to_sockaddr(to);
    out.reserve(out.size() + count);
    std::size_t done = 0;
    while (done < count) {
        const std::size_t batch = std::min(kBatch, count - done);
        const std::size_t first = out.size();
        for (std::size_t i = 0; i < batch; ++i) {
            UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
            if (!c) throw sys_error("create a TCP socket (descriptor " + std::to_string(first + i) + ")", errno);
            // On loopback the handshake completes inside connect(): no SYN leaves the machine.
            if (::connect(c.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0)
                throw sys_error("connect to " + to_string(to) + " (connection " +
                                    std::to_string(done + i + 1) + " of " + std::to_string(count) + ")",
                                errno);
            out.push_back(Pair{std::move(c), UniqueFd{}});
        }
        for (std::size_t i = 0; i < batch; ++i) {
            pollfd p{listen_fd, POLLIN, 0};
            const int n = ::poll(&p, 1, ms_left(deadline));
            if (n == 0) timed_out("accept a connection on " + to_string(to));
            if (n < 0) throw sys_error("wait for a connection on " + to_string(to), errno);
            UniqueFd s(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
            if (!s) throw sys_error("accept a connection on " + to_string(to), errno);
            // Which accepted socket belongs to which client does not matter for a population.
            out[first + i].server = std::move(s);
        }
        done += batch;
    }
}

void half_close(std::vector<Pair>& pairs, Clock::time_point deadline) {
    std::vector<pollfd> servers;
    servers.reserve(pairs.size());
    for (auto& p : pairs) {
        if (::shutdown(p.client.get(), SHUT_WR) != 0) throw sys_error("shut down a client's sending side", errno);
        servers.push_back(pollfd{p.server.get(), 0, 0});
    }
    // Pairs were accepted in any order, so wait on all servers rather than one per client.
    wait_all(servers, POLLRDHUP, deadline, "see every half-closed connection reach CLOSE_WAIT");
}

void make_time_wait(int listen_fd, const Endpoint& to, std::size_t count, Clock::time_point deadline) {
    std::size_t done = 0;
    std::vector<Pair> pairs;
    std::vector<pollfd> servers;
    while (done < count) {
        const std::size_t batch = std::min(kBatch, count - done);
        pairs.clear();
        connect_pairs(listen_fd, to, batch, pairs, deadline);
        servers.clear();
        for (auto& p : pairs) {
            p.client.reset();  // the client closes first, so the client is the one in TIME_WAIT
            servers.push_back(pollfd{p.server.get(), 0, 0});
        }
        wait_all(servers, POLLRDHUP, deadline, "see the clients' FIN on " + to_string(to));
        pairs.clear();  // servers close from CLOSE_WAIT: LAST_ACK, then gone
        done += batch;
    }
}

}  // namespace socklab::bench
