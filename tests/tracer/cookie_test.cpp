// Can a traced event name a socket by its cookie, the number sock_diag reports as idiag_cookie?
// On this kernel the state tracepoint (sock:inet_sock_set_state) carries no cookie at all, so
// socklab joins transitions, segments and calls by 4-tuple and time (docs/kernel-facts.md,
// "Socket cookies"). The tcp tracepoints that do carry one (tcp:tcp_destroy_sock, ...) must
// carry the same number sock_diag shows, or the fact in the docs is wrong: this test asks both.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "socklab/source.hpp"
#include "socklab/state.hpp"
#include "testsupport.hpp"
#include "tracer_test_util.hpp"

// libtracefs 1.6's header cannot be included from C++ (an inline helper converts int to an
// enum), so the calls this test makes are declared as tracefs.h declares them (as in
// core/src/tracer.cpp).
extern "C" {
struct tracefs_instance;
const char* tracefs_tracing_dir(void);
void tracefs_instance_free(struct tracefs_instance* instance);
struct tracefs_instance* tracefs_instance_create(const char* name);
int tracefs_instance_destroy(struct tracefs_instance* instance);
char* tracefs_instance_file_read(struct tracefs_instance* instance, const char* file, int* psize);
int tracefs_trace_on(struct tracefs_instance* instance);
int tracefs_event_enable(struct tracefs_instance* instance, const char* system, const char* event);
int tracefs_event_disable(struct tracefs_instance* instance, const char* system, const char* event);
}

namespace socklab {
namespace {

using namespace std::chrono_literals;

// The event's format file; libtracefs finds tracefs (and mounts it, as root, if it is not).
std::string format_of(const std::string& system, const std::string& event) {
    const char* dir = tracefs_tracing_dir();
    if (dir == nullptr) return {};
    std::ifstream in(std::string(dir) + "/events/" + system + "/" + event + "/format");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// A private tracefs instance, destroyed (and checked gone) whatever happens.
class Instance {
public:
    explicit Instance(std::string name) : name_(std::move(name)) {
        inst_ = tracefs_instance_create(name_.c_str());
    }
    ~Instance() {
        if (inst_ != nullptr) {
            tracefs_instance_destroy(inst_);
            tracefs_instance_free(inst_);
        }
    }
    Instance(const Instance&) = delete;
    Instance& operator=(const Instance&) = delete;
    tracefs_instance* get() const { return inst_; }
    const std::string& name() const { return name_; }
    // The instance's human-readable trace buffer.
    std::string trace() const {
        char* text = tracefs_instance_file_read(inst_, "trace", nullptr);
        std::string out = text != nullptr ? text : "";
        std::free(text);
        return out;
    }

private:
    std::string name_;
    tracefs_instance* inst_ = nullptr;
};

// The (sport, sock_cookie) of every tcp_destroy_sock line. Keyed by the local port only: an
// aborted socket is destroyed after tcp_disconnect() cleared its peer (dport=0 daddr=0.0.0.0
// in the event), so the 4-tuple at that moment no longer names the connection -- the cookie
// still does.
std::multimap<unsigned, std::uint64_t> destroyed(const std::string& trace) {
    std::multimap<unsigned, std::uint64_t> out;
    std::istringstream lines(trace);
    for (std::string line; std::getline(lines, line);) {
        if (line.find("tcp_destroy_sock:") == std::string::npos) continue;
        const auto sp = line.find(" sport="), ck = line.find(" sock_cookie=");
        if (sp == std::string::npos || ck == std::string::npos) continue;
        const unsigned sport = static_cast<unsigned>(std::stoul(line.substr(sp + 7)));
        out.emplace(sport, std::stoull(line.substr(ck + 13), nullptr, 16));
    }
    return out;
}

bool has(const std::multimap<unsigned, std::uint64_t>& m, unsigned port, std::uint64_t cookie) {
    const auto [b, e] = m.equal_range(port);
    for (auto it = b; it != e; ++it)
        if (it->second == cookie) return true;
    return false;
}

// Abort a connection's end: RST, and the socket is destroyed at close() (no TIME_WAIT).
void abort_close(UniqueFd& fd) {
    const linger l{1, 0};
    ASSERT_EQ(::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l), 0);
    fd.reset();
}

TEST(SocketCookie, TheStateTracepointCarriesNone) {
    // Read from the kernel's own format file, not assumed: if a future kernel adds a cookie
    // here, this fails and docs/kernel-facts.md must be rewritten (and the join can use it).
    const auto fmt = format_of("sock", "inet_sock_set_state");
    if (fmt.empty()) GTEST_SKIP() << "no tracefs format for sock:inet_sock_set_state (tracefs is not mounted and only root can mount it)";
    EXPECT_NE(fmt.find("field:const void * skaddr;"), std::string::npos) << fmt;
    EXPECT_EQ(fmt.find("cookie"), std::string::npos) << fmt;
}

TEST(SocketCookie, TcpTracepointCookieEqualsSockDiagCookie) {
    SOCKLAB_REQUIRE_ROOT();
    if (format_of("tcp", "tcp_destroy_sock").find("sock_cookie") == std::string::npos)
        GTEST_SKIP() << "tcp:tcp_destroy_sock has no sock_cookie field on this kernel (before 6.1?)";
    Instance inst("socklab-test-cookie-" + std::to_string(::getpid()));
    ASSERT_NE(inst.get(), nullptr) << "failed to create a tracefs instance";
    ASSERT_EQ(tracefs_event_enable(inst.get(), "tcp", "tcp_destroy_sock"), 0);
    ASSERT_EQ(tracefs_trace_on(inst.get()), 0);

    auto listener = test::tcp_listen("127.0.0.1");
    const auto port = test::local_port(listener.get());
    auto client = test::tcp_connect("127.0.0.1", port);
    auto server = test::tcp_accept(listener.get());
    const auto cport = test::local_port(client.get());

    // sock_diag's cookies for both ends, while they are ESTABLISHED.
    auto src = make_netlink_source();
    std::map<std::pair<unsigned, unsigned>, std::uint64_t> diag;
    for (const auto& r : test::sockets_on_port(*src, port))
        if (r.state == static_cast<std::uint8_t>(TcpState::established))
            diag[{r.local_port, r.remote_port}] = r.cookie;
    ASSERT_EQ(diag.size(), 2u) << "expected both ends of 127.0.0.1:" << cport << " <-> :" << port;
    for (const auto& [ports, cookie] : diag) EXPECT_NE(cookie, 0u);

    abort_close(client);
    abort_close(server);

    // Each end's destroy event carries the very cookie sock_diag showed for it.
    std::multimap<unsigned, std::uint64_t> traced;
    const bool both = test::wait_until([&] {
        traced = destroyed(inst.trace());
        return has(traced, cport, diag.at({cport, port})) && has(traced, port, diag.at({port, cport}));
    }, 5s);
    EXPECT_TRUE(both) << "no tcp_destroy_sock with sock_diag's cookie for both ends (client "
                      << std::hex << diag.at({cport, port}) << ", server " << diag.at({port, cport})
                      << "); the trace:\n" << inst.trace();
    tracefs_event_disable(inst.get(), "tcp", "tcp_destroy_sock");
}

}  // namespace
}  // namespace socklab
