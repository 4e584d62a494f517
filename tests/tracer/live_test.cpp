// The tracer against the real tracepoint: a loopback connection produces RFC 9293's state
// sequence on both ends, in order, with nothing else; the instance is gone afterwards. Each
// test filters on a kernel-chosen port, because other loopback traffic runs concurrently.
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <new>
#include <string>
#include <vector>

#include "socklab/source.hpp"
#include "socklab/state.hpp"
#include "socklab/tracer.hpp"
#include "testsupport.hpp"
#include "tracer_test_util.hpp"

namespace socklab {
namespace {

using namespace std::chrono_literals;
using test::instance_exists;

using Seq = std::vector<std::pair<TcpState, TcpState>>;

struct Case {
    const char* addr;
    bool client_closes_first;
};

std::string case_name(const testing::TestParamInfo<Case>& info) {
    return std::string(info.param.addr[0] == ':' ? "v6" : "v4") +
           (info.param.client_closes_first ? "_client_closes_first" : "_server_closes_first");
}

std::string own_comm() {
    std::ifstream in("/proc/self/comm");
    std::string c;
    std::getline(in, c);
    return c;
}

// Each test checks in TearDown that its instance is gone, also when the body failed.
class TracerLive : public testing::TestWithParam<Case> {
protected:
    void TearDown() override {
        EXPECT_FALSE(instance_exists(instance_)) << "instance " << instance_ << " left behind";
    }
    std::string instance_;
};

// Wait a closed peer's EOF, so the other side's close() happens after the FIN arrived.
void wait_eof(int fd) {
    ASSERT_TRUE(test::wait_until([fd] {
        char b;
        return ::recv(fd, &b, 1, MSG_DONTWAIT) == 0;
    })) << "the peer's FIN never arrived";
}

Seq states_of(const std::vector<TransitionEvent>& events, std::uint64_t skaddr) {
    Seq out;
    for (const auto& e : events)
        if (e.skaddr == skaddr)
            out.emplace_back(static_cast<TcpState>(e.old_state), static_cast<TcpState>(e.new_state));
    return out;
}

std::size_t index_of(const std::vector<TransitionEvent>& events, std::uint64_t skaddr,
                     TcpState from, TcpState to) {
    for (std::size_t i = 0; i < events.size(); ++i)
        if (events[i].skaddr == skaddr && events[i].old_state == static_cast<std::uint8_t>(from) &&
            events[i].new_state == static_cast<std::uint8_t>(to))
            return i;
    ADD_FAILURE() << "no " << state_name(static_cast<std::uint8_t>(from)) << " -> "
                  << state_name(static_cast<std::uint8_t>(to));
    return events.size();
}

TEST_P(TracerLive, ConnectAcceptCloseGivesRfc9293SequenceOnBothEnds) {
    SOCKLAB_REQUIRE_ROOT();
    const Case c = GetParam();
    auto listener = test::tcp_listen(c.addr, 0);
    const std::uint16_t port = test::local_port(listener.get());

    TracerOptions opts;
    opts.port = port;
    Tracer tracer(opts);
    ASSERT_TRUE(tracer.status().active) << tracer.status().message;
    instance_ = tracer.instance_name();
    ASSERT_TRUE(instance_exists(instance_));

    auto client = test::tcp_connect(c.addr, port);
    auto server = test::tcp_accept(listener.get());
    const std::uint16_t client_port = test::local_port(client.get());
    if (c.client_closes_first) {
        client.reset();
        wait_eof(server.get());
        server.reset();
    } else {
        server.reset();
        wait_eof(client.get());
        client.reset();
    }

    std::vector<TransitionEvent> events;
    ASSERT_TRUE(test::wait_until([&] {
        tracer.poll(events, 20ms);
        return events.size() >= 10;
    })) << "got " << events.size() << " of 10 transitions";
    // Anything more would be a duplicate or a stray: look a little longer for it.
    tracer.poll(events, 50ms);
    ASSERT_EQ(events.size(), 10u);
    EXPECT_EQ(tracer.lost_events(), 0u);
    EXPECT_EQ(tracer.malformed_records(), 0u);

    // In time order, all on CLOCK_MONOTONIC, all in the past.
    const std::uint64_t now = monotonic_ns();
    for (std::size_t i = 0; i < events.size(); ++i) {
        EXPECT_LE(events[i].time_ns, now);
        if (i) {
            EXPECT_LE(events[i - 1].time_ns, events[i].time_ns);
        }
        EXPECT_EQ(events[i].protocol, 6);
        EXPECT_TRUE(events[i].local_addr.is_loopback());
    }

    // The client is the socket whose connect() the kernel reported: sport 0, dport = port.
    const auto& syn = events.front();
    ASSERT_EQ(syn.new_state, static_cast<std::uint8_t>(TcpState::syn_sent));
    EXPECT_EQ(syn.local_port, 0) << "the SYN_SENT event has sport 0";
    EXPECT_EQ(syn.remote_port, port);
    // connect() ran on this thread: the event names this process.
    EXPECT_EQ(syn.pid, ::getpid());
    EXPECT_EQ(syn.comm_view(), own_comm());
    const std::uint64_t client_sk = syn.skaddr;
    std::uint64_t server_sk = 0;
    for (const auto& e : events) {
        if (e.skaddr == client_sk) {
            if (&e != &syn) {
                EXPECT_EQ(e.local_port, client_port);
            }
            EXPECT_EQ(e.remote_port, port);
        } else {
            if (server_sk == 0) server_sk = e.skaddr;
            EXPECT_EQ(e.skaddr, server_sk) << "a third socket on the port";
            EXPECT_EQ(e.local_port, port);
            EXPECT_EQ(e.remote_port, client_port);
        }
    }

    const Seq active_close{{TcpState::established, TcpState::fin_wait1},
                           {TcpState::fin_wait1, TcpState::fin_wait2},
                           // TIME_WAIT lives on in a mini-socket the tracepoint does not report.
                           {TcpState::fin_wait2, TcpState::close}};
    const Seq passive_close{{TcpState::established, TcpState::close_wait},
                            {TcpState::close_wait, TcpState::last_ack},
                            {TcpState::last_ack, TcpState::close}};
    Seq client_seq{{TcpState::close, TcpState::syn_sent}, {TcpState::syn_sent, TcpState::established}};
    Seq server_seq{{TcpState::listen, TcpState::syn_recv}, {TcpState::syn_recv, TcpState::established}};
    const auto& client_close = c.client_closes_first ? active_close : passive_close;
    const auto& server_close = c.client_closes_first ? passive_close : active_close;
    client_seq.insert(client_seq.end(), client_close.begin(), client_close.end());
    server_seq.insert(server_seq.end(), server_close.begin(), server_close.end());
    EXPECT_EQ(states_of(events, client_sk), client_seq);
    EXPECT_EQ(states_of(events, server_sk), server_seq);

    // Across the two ends, what causes what comes first. The accepted socket is born when the
    // final ACK arrives, after the client is ESTABLISHED.
    const auto& ev = events;
    EXPECT_LT(index_of(ev, client_sk, TcpState::syn_sent, TcpState::established),
              index_of(ev, server_sk, TcpState::listen, TcpState::syn_recv));
    const auto closer = c.client_closes_first ? client_sk : server_sk;
    const auto other = c.client_closes_first ? server_sk : client_sk;
    EXPECT_LT(index_of(ev, closer, TcpState::established, TcpState::fin_wait1),
              index_of(ev, other, TcpState::established, TcpState::close_wait));
    // No order between the other end's CLOSE_WAIT -> LAST_ACK and the closer's
    // FIN_WAIT2 -> CLOSE: the closer is an orphan (close() was called), and the kernel moves an
    // orphan into its timewait mini-socket (reported as -> CLOSE) as soon as its FIN is
    // acknowledged, whether or not the peer has closed yet (tcp_rcv_state_process, FIN_WAIT1).
    // What is ordered: the closer's last event comes before the peer's LAST_ACK -> CLOSE, whose
    // trigger is the closer's final ACK.
    EXPECT_LT(index_of(ev, closer, TcpState::fin_wait2, TcpState::close),
              index_of(ev, other, TcpState::last_ack, TcpState::close));

    // Time in the old state, per socket: from the socket's previous event.
    for (const auto sk : {client_sk, server_sk}) {
        const TransitionEvent* prev = nullptr;
        for (const auto& e : events) {
            if (e.skaddr != sk) continue;
            if (prev) {
                EXPECT_EQ(e.old_state_ns, e.time_ns - prev->time_ns);
            } else {
                EXPECT_EQ(e.old_state_ns, 0u) << "the socket was not seen entering its first state";
            }
            prev = &e;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Loopback, TracerLive,
                         testing::Values(Case{"127.0.0.1", true}, Case{"127.0.0.1", false},
                                         Case{"::1", true}, Case{"::1", false}),
                         case_name);

TEST(TracerLiveBasics, FilterKeepsOtherPortsOut) {
    SOCKLAB_REQUIRE_ROOT();
    auto watched = test::tcp_listen("127.0.0.1", 0);
    auto other = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(watched.get());
    const auto other_port = test::local_port(other.get());
    TracerOptions opts;
    opts.port = port;
    Tracer tracer(opts);
    ASSERT_TRUE(tracer.status().active) << tracer.status().message;
    const std::string name = tracer.instance_name();
    {
        auto c = test::tcp_connect("127.0.0.1", other_port);
        auto s = test::tcp_accept(other.get());
    }
    {
        auto c = test::tcp_connect("127.0.0.1", port);
        auto s = test::tcp_accept(watched.get());
    }
    std::vector<TransitionEvent> events;
    ASSERT_TRUE(test::wait_until([&] {
        tracer.poll(events, 20ms);
        return std::count_if(events.begin(), events.end(), [](const TransitionEvent& e) {
                   return e.new_state == static_cast<std::uint8_t>(TcpState::close);
               }) >= 2;
    }));
    for (const auto& e : events)
        EXPECT_TRUE(e.local_port == port || e.remote_port == port)
            << e.local_port << " -> " << e.remote_port;
}

TEST(TracerLiveBasics, PollWaitsAtMostItsTimeout) {
    SOCKLAB_REQUIRE_ROOT();
    auto l = test::tcp_listen("127.0.0.1", 0);
    TracerOptions opts;
    opts.port = test::local_port(l.get());
    Tracer tracer(opts);
    ASSERT_TRUE(tracer.status().active) << tracer.status().message;
    std::vector<TransitionEvent> events;
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(tracer.poll(events, 100ms), 0u);
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(took, 90ms);
    EXPECT_LT(took, 2s);
}

TEST(TracerLiveBasics, InstanceIsConfiguredAndRemoved) {
    SOCKLAB_REQUIRE_ROOT();
    std::string name;
    {
        TracerOptions opts;
        opts.port = 9;  // discard: nothing should be running there
        opts.buffer_kb_per_cpu = 1024;
        Tracer tracer(opts);
        ASSERT_TRUE(tracer.status().active) << tracer.status().message;
        name = tracer.instance_name();
        const auto parsed = trace::parse_instance_name(name);
        ASSERT_TRUE(parsed);
        EXPECT_EQ(parsed->pid, ::getpid());
        EXPECT_TRUE(trace::owner_alive(*parsed));
        const std::string dir = test::tracing_instances_dir() + "/" + name;
        auto slurp = [&](const std::string& f) {
            std::ifstream in(dir + "/" + f);
            std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            return s;
        };
        EXPECT_NE(slurp("trace_clock").find("[mono]"), std::string::npos) << slurp("trace_clock");
        // The kernel rounds the size up to whole sub-buffers.
        const auto kb = std::stoul(slurp("buffer_size_kb"));
        EXPECT_GE(kb, 1024u);
        EXPECT_LT(kb, 1100u);
        EXPECT_EQ(slurp("events/sock/inet_sock_set_state/enable"), "1\n");
        EXPECT_EQ(slurp("events/sock/inet_sock_set_state/filter"),
                  "protocol == 6 && (sport == 9 || dport == 9)\n");
        // Only this event: everything else in the instance stays off.
        EXPECT_EQ(slurp("events/enable"), "X\n");
        // The global buffer is left alone.
        EXPECT_EQ(slurp("../../events/sock/inet_sock_set_state/filter").find("sport == 9"),
                  std::string::npos);
    }
    EXPECT_FALSE(instance_exists(name));
}

// tracefs is not always mounted: the tracer mounts it. Shown in a private mount namespace
// of a child process, so the machine's own mount stays as it is for everyone else.
TEST(TracerLiveBasics, MountsTracefsWhenItIsNotMounted) {
    SOCKLAB_REQUIRE_ROOT();
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        auto tracefs_here = [] {
            struct statfs fs {};
            return ::statfs("/sys/kernel/tracing", &fs) == 0 && fs.f_type == 0x74726163;
        };
        if (::unshare(CLONE_NEWNS) != 0) ::_exit(10);
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(11);
        while (tracefs_here())
            if (::umount2("/sys/kernel/tracing", MNT_DETACH) != 0) ::_exit(12);
        struct statfs dbg {};
        if (::statfs("/sys/kernel/debug/tracing", &dbg) == 0 && dbg.f_type == 0x74726163)
            ::umount2("/sys/kernel/debug/tracing", MNT_DETACH);
        int code = 0;
        {
            Tracer tracer(TracerOptions{std::uint16_t{9}, 256, false, false, {}});
            if (!tracer.status().active) code = 13;
            else if (!tracefs_here()) code = 14;
        }
        ::_exit(code);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "10/11/12: could not set up the private mount namespace, "
                                         "13: the tracer did not start, 14: tracefs not mounted";
}

// Any instance made by process `pid`?
bool instance_of_pid_exists(int pid) {
    const std::string prefix = "socklab-" + std::to_string(pid) + "-";
    const auto r = test::run_command({"ls", test::tracing_instances_dir()});
    return r.out.find(prefix) != std::string::npos;
}

// A program that called Tracer::remove_instances_on_exit() from its main() and does not
// handle SIGTERM, or leaves through exit() without unwinding, still leaves no instance behind:
// that call's handler and exit hook remove it.
TEST(TracerLiveBasics, InstanceRemovedOnSigtermAndOnExit) {
    SOCKLAB_REQUIRE_ROOT();
    for (const bool by_signal : {true, false}) {
        int ready[2];
        ASSERT_EQ(::pipe(ready), 0);
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            ::close(ready[0]);
            ::signal(SIGTERM, SIG_DFL);
            Tracer::remove_instances_on_exit();
            // Built in static storage and never destroyed: only the hooks can clean up.
            alignas(Tracer) static unsigned char storage[sizeof(Tracer)];
            auto* tracer = new (storage) Tracer(TracerOptions{std::uint16_t{9}, 256, false, false, {}});
            const char ok = tracer->status().active ? '1' : '0';
            if (::write(ready[1], &ok, 1) != 1) ::_exit(20);
            if (by_signal) ::raise(SIGTERM);
            std::exit(0);
        }
        ::close(ready[1]);
        char ok = 0;
        ASSERT_EQ(::read(ready[0], &ok, 1), 1);
        ::close(ready[0]);
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        EXPECT_EQ(ok, '1') << "the child's tracer did not start";
        if (by_signal) {
            ASSERT_TRUE(WIFSIGNALED(status)) << "the handler must die of the signal it caught";
            EXPECT_EQ(WTERMSIG(status), SIGTERM);
        } else {
            ASSERT_TRUE(WIFEXITED(status));
        }
        EXPECT_FALSE(instance_of_pid_exists(pid)) << (by_signal ? "after SIGTERM" : "after exit()");
    }
}

TEST(TracerUnprivileged, ForcedDegradesWithAMessageAndPollingStillWorks) {
    auto listener = test::tcp_listen("127.0.0.1", 0);
    const auto port = test::local_port(listener.get());
    TracerOptions opts;
    opts.force_unprivileged = true;
    opts.port = port;
    Tracer tracer(opts);
    EXPECT_FALSE(tracer.status().active);
    const auto& msg = tracer.status().message;
    EXPECT_NE(msg.find("tracing was turned off with --no-trace"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("run as root"), std::string::npos) << msg;
    EXPECT_NE(msg.find("keep working on polling alone"), std::string::npos) << msg;
    EXPECT_TRUE(tracer.instance_name().empty());
    std::vector<TransitionEvent> events;
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(tracer.poll(events, 50ms), 0u);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
    EXPECT_EQ(tracer.lost_events(), 0u);

    // Polling is untouched: the table still shows the listener.
    auto src = make_default_source();
    EXPECT_TRUE(test::wait_for_state(*src, port, 0, static_cast<std::uint8_t>(TcpState::listen)));
}

// The state tracepoint has no network-namespace field: a tracer started here reports a
// connection made inside another namespace, which this namespace's table does not list
// (docs/kernel-facts.md, "The state tracepoint reports every network namespace").
TEST(TracerNamespaces, AnotherNamespacesConnectionIsReportedToo) {
    SOCKLAB_REQUIRE_ROOT();
    UniqueFd listener, client;
    {
        // Sockets belong to the namespace they were made in, wherever the thread goes next.
        test::PrivateNetns elsewhere;
        listener = test::tcp_listen("127.0.0.1", 0);
        client = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        ASSERT_TRUE(client);
    }
    const std::uint16_t port = test::local_port(listener.get());
    struct stat st {};
    ASSERT_EQ(::fstat(listener.get(), &st), 0);
    auto src = make_netlink_source();
    for (const auto& r : test::sockets_on_port(*src, port))
        EXPECT_NE(r.inode, st.st_ino) << "the other namespace's listener is in this table";

    TracerOptions opts;
    opts.port = port;
    Tracer tracer(opts);
    ASSERT_TRUE(tracer.status().active) << tracer.status().message;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(client.get(), reinterpret_cast<const sockaddr*>(&to), sizeof to), 0)
        << std::strerror(errno);
    std::vector<TransitionEvent> events;
    const auto seen = [&](TcpState from, TcpState to_state) {
        return std::any_of(events.begin(), events.end(), [&](const TransitionEvent& e) {
            return e.local_port == port && e.old_state == static_cast<std::uint8_t>(from) &&
                   e.new_state == static_cast<std::uint8_t>(to_state);
        });
    };
    EXPECT_TRUE(test::wait_until([&] {
        tracer.poll(events, 20ms);
        return seen(TcpState::listen, TcpState::syn_recv) && seen(TcpState::syn_recv, TcpState::established);
    })) << "the other namespace's handshake was not reported (" << events.size() << " events)";
}

}  // namespace
}  // namespace socklab
