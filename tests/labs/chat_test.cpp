// The chat lab through pipes: two instances of itself and against nc (netcat-openbsd), with
// Korean text and /quit from each side; the server as a room of several clients. Each test has
// its own network namespace, so `ss` there sees only this conversation.
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lab_child.hpp"
#include "socklab/source.hpp"
#include "socklab/state.hpp"
#include "testsupport.hpp"

namespace socklab::test {
namespace {

using namespace std::chrono_literals;

constexpr std::uint16_t kPort = 9015;

std::string chat_bin() { return bin("socklab-lab-chat"); }

void wait_for_listener() {
    auto src = make_netlink_source();
    ASSERT_TRUE(wait_for_state(*src, kPort, 0, static_cast<std::uint8_t>(TcpState::listen), 10s))
        << "the chat server never listened";
}

auto has(const std::string& text) {
    return [text](const std::string& out) { return out.find(text) != std::string::npos; };
}

// The server's note once its room is open, after the accept step's check.
const std::string kRoomOpen = "/quit closes the room";

// The room's server still listens (a client leaving does not end it).
bool still_listening() {
    for (const auto& r : ss_rows())
        if (r.local_port == kPort && r.state == "LISTEN") return true;
    return false;
}

// A client left the room: the server said so, closed that client's socket, and still listens;
// then /quit typed at the server closes the room and the lab ends with every check met.
void client_left_then_server_quits(Child& server) {
    ASSERT_TRUE(server.read_until(has("the peer typed /quit"), 10s)) << server.out();
    EXPECT_TRUE(still_listening()) << "the room should stay open after one client left";
    server.write("/quit\n");
    EXPECT_EQ(server.wait(15s), 0) << server.out() << server.err();
    EXPECT_NE(server.out().find("every expectation met"), std::string::npos) << server.out();
}

// After the conversation: no CLOSE_WAIT and no ESTABLISHED left, on either side.
void expect_both_sides_closed() {
    std::vector<SsRow> rows;
    const bool ok = wait_until(
        [&] {
            rows = ss_rows();
            for (const auto& r : rows)
                if (r.state != "TIME_WAIT") return false;
            return true;
        },
        3s, 20ms);
    std::string table;
    for (const auto& r : rows) table += "  " + r.line + "\n";
    EXPECT_TRUE(ok) << "left behind:\n" << table;
}

const std::string kFromServer = "서버: 안녕하세요! 반갑습니다.";
const std::string kFromClient = "클라이언트: 네, 안녕하세요 — hello";

// Both instances of the lab; `quitter` ("server" or "client") types /quit.
void chat_between_two_labs(const std::string& quitter) {
    PrivateNetns ns;
    Child server({chat_bin(), "--role", "server", "--auto"});
    wait_for_listener();
    Child client({chat_bin(), "--role", "client", "--auto"});

    server.write(kFromServer + "\n");
    ASSERT_TRUE(client.read_until(has(kFromServer), 10s)) << client.out() << client.err();
    client.write(kFromClient + "\n");
    ASSERT_TRUE(server.read_until(has(kFromClient), 10s)) << server.out() << server.err();

    (quitter == "server" ? server : client).write("/quit\n");
    if (quitter == "client") {
        EXPECT_EQ(client.wait(15s), 0) << client.out() << client.err();
        ASSERT_NO_FATAL_FAILURE(client_left_then_server_quits(server));
    }
    EXPECT_EQ(server.wait(15s), 0) << server.out() << server.err();
    EXPECT_EQ(client.wait(15s), 0) << client.out() << client.err();
    // The other side saw the /quit text and why the conversation ended.
    auto& other = quitter == "server" ? client : server;
    EXPECT_NE(other.out().find("/quit"), std::string::npos);
    EXPECT_NE(other.out().find("the peer typed /quit"), std::string::npos) << other.out();
    EXPECT_NE(other.out().find("every expectation met"), std::string::npos);
    expect_both_sides_closed();
}

TEST(ChatLab, TwoInstancesClientQuits) {
    SOCKLAB_REQUIRE_ROOT();
    chat_between_two_labs("client");
}

TEST(ChatLab, TwoInstancesServerQuits) {
    SOCKLAB_REQUIRE_ROOT();
    chat_between_two_labs("server");
}

// nc as the client: text without a newline is passed on once nc is quiet; /quit typed at nc
// makes the room close nc's connection at once (the lab never sits in CLOSE_WAIT).
TEST(ChatLab, NcClientTypesQuit) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    Child server({chat_bin(), "--role", "server", "--auto"});
    wait_for_listener();
    Child nc({"nc", "127.0.0.1", std::to_string(kPort)});
    // No newline: once nc is quiet the text is a message of its own, not held for a line.
    nc.write("nc 님이 입력 중");
    ASSERT_TRUE(server.read_until(has("] nc 님이 입력 중\n"), 10s)) << server.out();
    nc.write("...\n");
    server.write(kFromServer + "\n");
    ASSERT_TRUE(nc.read_until(has("[server] " + kFromServer), 10s)) << nc.out() << nc.err();
    nc.write("/quit\n");
    ASSERT_NO_FATAL_FAILURE(client_left_then_server_quits(server));
    // netcat-openbsd stops reading the network at the lab's FIN but holds its socket until
    // its own input ends (the user's Ctrl-D): that CLOSE_WAIT is nc's, and it ends here.
    nc.close_stdin();
    EXPECT_TRUE(nc.wait(15s).has_value()) << "nc did not exit after its input ended";
    expect_both_sides_closed();
}

// nc as the server: the lab client types /quit; nc sees the end of the stream and exits, and
// the lab closes its side.
TEST(ChatLab, LabClientQuitsAgainstNcServer) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    Child nc({"nc", "-l", "127.0.0.1", std::to_string(kPort)});
    wait_for_listener();
    Child client({chat_bin(), "--role", "client", "--auto"});
    nc.write(kFromServer + "\n");
    ASSERT_TRUE(client.read_until(has(kFromServer), 10s)) << client.out() << client.err();
    client.write(kFromClient + "\n/quit\n");
    ASSERT_TRUE(nc.read_until(has(kFromClient + "\n/quit\n"), 10s)) << nc.out();
    EXPECT_EQ(client.wait(15s), 0) << client.out() << client.err();
    EXPECT_NE(client.out().find("you typed /quit"), std::string::npos) << client.out();
    EXPECT_NE(client.out().find("every expectation met"), std::string::npos);
    EXPECT_TRUE(nc.wait(15s).has_value());
    expect_both_sides_closed();
}

// Input that just ends (a pipe, Ctrl-D) is not /quit: the lab half-closes and still shows
// what the peer sends until the peer is done. The peer is the test itself, so it can answer
// after the half-close (a second chat lab, or nc, ends as soon as it sees our FIN).
TEST(ChatLab, EndOfInputHalfClosesAndKeepsReading) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    auto listener = tcp_listen("127.0.0.1", kPort);
    Child client({chat_bin(), "--role", "client", "--auto"});
    auto conn = tcp_accept(listener.get(), 10s);
    client.close_stdin();
    // The half-close arrives as end of stream on our side; nothing else was sent.
    char buf[64];
    pollfd p{conn.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 10000), 1) << client.out() << client.err();
    ASSERT_EQ(::recv(conn.get(), buf, sizeof buf, 0), 0) << "expected the client's FIN";
    const std::string late = kFromServer + "\n";
    ASSERT_EQ(::send(conn.get(), late.data(), late.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(late.size()));
    ASSERT_TRUE(client.read_until(has(kFromServer), 10s)) << client.out() << client.err();
    conn.reset();  // we are done too: the client sees our FIN and ends
    EXPECT_EQ(client.wait(15s), 0) << client.out() << client.err();
    listener.reset();
    expect_both_sides_closed();
}

// ---- a beginner's chat (tests/fixtures/beginner_chat.py): one send() per message, no
// newline, "/quit" alone, every recv(1024) compared whole ----

std::vector<std::string> beginner(const std::string& role) {
    return {"/usr/bin/python3", "-u", std::string(SOCKLAB_FIXTURES) + "/beginner_chat.py", role,
            std::to_string(kPort)};
}
const std::string kBeginner = "안녕하세요, 저는 파이썬이에요";  // sent without a newline
const std::string kLabLine = "반가워요 — the lab answers";

// The lab and the beginner's program, connected in a network namespace of their own: the lab
// as server and the beginner's client, or the other way round. `lab` and `py` are set by one
// of the two start functions (each to be called under ASSERT_NO_FATAL_FAILURE).
struct BeginnerChat {
    PrivateNetns ns;  // first in, last out: the children end inside it
    std::optional<Child> lab, py;

    // The lab listens; the beginner's client connects.
    void lab_serves() {
        lab.emplace(std::vector<std::string>{chat_bin(), "--role", "server", "--auto"});
        wait_for_listener();
        py.emplace(beginner("client"));
        ASSERT_TRUE(py->read_until(has("connected"), 10s)) << py->out() << py->err();
    }

    // The beginner's server listens; the lab's client connects and shows the beginner's
    // first message (sent without a newline).
    void beginner_serves() {
        py.emplace(beginner("server"));
        ASSERT_TRUE(py->read_until(has("listening"), 10s)) << py->out() << py->err();
        lab.emplace(std::vector<std::string>{chat_bin(), "--role", "client", "--auto"});
        ASSERT_TRUE(py->read_until(has("connected"), 10s)) << py->out() << py->err();
        py->write(kBeginner + "\n");
        ASSERT_TRUE(lab->read_until(has(kBeginner), 10s)) << lab->out() << lab->err();
    }
};

// The lab as server, the beginner's client says hello and then "/quit" (no newline at all):
// the lab shows each message once the client is quiet, takes the bare "/quit" as /quit,
// closes that client, and says that the peer used no newlines.
TEST(ChatLab, BeginnerPythonClientWithoutNewlinesQuits) {
    SOCKLAB_REQUIRE_ROOT();
    BeginnerChat chat;
    ASSERT_NO_FATAL_FAILURE(chat.lab_serves());
    Child& server = *chat.lab;
    Child& py = *chat.py;
    py.write(kBeginner + "\n");
    ASSERT_TRUE(server.read_until(has(kBeginner), 10s)) << server.out() << server.err();
    server.write(kLabLine + "\n");
    ASSERT_TRUE(py.read_until(has("recv: [server] " + kLabLine + "\\n"), 10s)) << py.out() << py.err();
    py.write("/quit\n");
    ASSERT_NO_FATAL_FAILURE(client_left_then_server_quits(server));
    EXPECT_NE(server.out().find("not one newline"), std::string::npos) << server.out();
    EXPECT_TRUE(py.wait(15s).has_value()) << py.out() << py.err();
    expect_both_sides_closed();
}

// The lab as client, the beginner's server: its messages (no newline) appear, ours reach it;
// then the beginner types "/quit" and the lab ends the chat.
TEST(ChatLab, BeginnerPythonServerWithoutNewlinesQuits) {
    SOCKLAB_REQUIRE_ROOT();
    BeginnerChat chat;
    ASSERT_NO_FATAL_FAILURE(chat.beginner_serves());
    Child& client = *chat.lab;
    Child& py = *chat.py;
    client.write(kLabLine + "\n");
    ASSERT_TRUE(py.read_until(has("recv: " + kLabLine), 10s)) << py.out() << py.err();
    py.write("/quit\n");
    EXPECT_EQ(client.wait(15s), 0) << client.out() << client.err();
    EXPECT_NE(client.out().find("the peer typed /quit"), std::string::npos) << client.out();
    EXPECT_TRUE(py.wait(15s).has_value()) << py.out() << py.err();
    expect_both_sides_closed();
}

// The lab types /quit to the beginner's server. The lab frames it ("/quit\n"), which a
// whole-read comparison misses — the beginner prints it as a message — but the lab's FIN
// follows, the beginner sees recv() == b"" and closes, and the lab ends cleanly.
TEST(ChatLab, LabClientQuitsAgainstBeginnerPythonServer) {
    SOCKLAB_REQUIRE_ROOT();
    BeginnerChat chat;
    ASSERT_NO_FATAL_FAILURE(chat.beginner_serves());
    Child& client = *chat.lab;
    Child& py = *chat.py;
    client.write("/quit\n");
    ASSERT_TRUE(py.read_until(has("peer closed"), 10s)) << py.out() << py.err();
    EXPECT_NE(py.out().find("recv: /quit\\n"), std::string::npos)
        << "the beginner's whole-read comparison should miss the framed /quit:\n" << py.out();
    py.close_stdin();  // the beginner's keyboard loop ends: it closes its socket
    EXPECT_TRUE(py.wait(15s).has_value()) << py.out() << py.err();
    EXPECT_EQ(client.wait(15s), 0) << client.out() << client.err();
    EXPECT_NE(client.out().find("you typed /quit"), std::string::npos) << client.out();
    expect_both_sides_closed();
}

// The lab server types /quit to the beginner's client: same, the other way round.
TEST(ChatLab, LabServerQuitsAgainstBeginnerPythonClient) {
    SOCKLAB_REQUIRE_ROOT();
    BeginnerChat chat;
    ASSERT_NO_FATAL_FAILURE(chat.lab_serves());
    Child& server = *chat.lab;
    Child& py = *chat.py;
    server.write(kLabLine + "\n");
    ASSERT_TRUE(py.read_until(has("recv: [server] " + kLabLine), 10s)) << py.out() << py.err();
    server.write("/quit\n");
    ASSERT_TRUE(py.read_until(has("peer closed"), 10s)) << py.out() << py.err();
    py.close_stdin();
    EXPECT_TRUE(py.wait(15s).has_value()) << py.out() << py.err();
    EXPECT_EQ(server.wait(15s), 0) << server.out() << server.err();
    EXPECT_NE(server.out().find("you typed /quit"), std::string::npos) << server.out();
    expect_both_sides_closed();
}

// "/quit" split across two reads, or stuck after a line in one read, is still found: newline
// framing across recv() calls. The peer is the test, so it controls the segments.
TEST(ChatLab, QuitSplitAcrossReadsOrMergedIsFound) {
    SOCKLAB_REQUIRE_ROOT();
    for (const bool split : {true, false}) {
        PrivateNetns ns;
        Child server({chat_bin(), "--role", "server", "--auto"});
        wait_for_listener();
        auto c = tcp_connect("127.0.0.1", kPort);
        // Talk once the room is open (the accept step has checked its table): a client gone
        // before that check would leave it nothing to see ESTABLISHED.
        ASSERT_TRUE(server.read_until(has(kRoomOpen), 10s)) << server.out();
        auto say = [&](const std::string& text) {
            ASSERT_EQ(::send(c.get(), text.data(), text.size(), MSG_NOSIGNAL),
                      static_cast<ssize_t>(text.size()));
        };
        if (split) {
            // The first read holds "first line\n/qu": the line is shown, "/qu" waits for the rest
            // (this peer frames with newlines, so a piece is never a message of its own).
            say("first line\n/qu");
            ASSERT_TRUE(server.read_until(has("] first line\n"), 10s)) << server.out();
            say("it\n");
        } else {
            say("first line\n/quit\n");
        }
        char buf[64];
        pollfd p{c.get(), POLLIN, 0};
        EXPECT_EQ(::poll(&p, 1, 5000), 1);
        EXPECT_EQ(::recv(c.get(), buf, sizeof buf, 0), 0) << "the lab should have closed";
        EXPECT_EQ(server.out().find("] /qu"), std::string::npos) << "a piece was taken as a message";
        ASSERT_NO_FATAL_FAILURE(client_left_then_server_quits(server));
    }
}

// A room of three: what one client says reaches the other two (named by its end's address),
// what the server types reaches all; one leaves and the others go on; /quit at the server
// ends the room with nobody left in CLOSE_WAIT. The third client is the test's own socket.
TEST(ChatLab, ThreeClientsShareTheRoomAndOneLeaves) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    Child server({chat_bin(), "--role", "server", "--auto"});
    wait_for_listener();
    Child first({chat_bin(), "--role", "client", "--auto"});
    Child second({chat_bin(), "--role", "client", "--auto"});
    auto third = tcp_connect("127.0.0.1", kPort);
    ASSERT_TRUE(server.read_until(has("clients in the room: 3"), 10s)) << server.out();
    std::string got;  // what the third client has read
    auto third_reads = [&](const std::string& text) {
        return wait_until([&] {
            char buf[512];
            const ssize_t n = ::recv(third.get(), buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) got.append(buf, static_cast<std::size_t>(n));
            return got.find(text) != std::string::npos;
        }, 10s, 10ms);
    };
    first.write(kFromClient + "\n");
    ASSERT_TRUE(second.read_until(has("] " + kFromClient), 10s)) << second.out();
    ASSERT_TRUE(third_reads("] " + kFromClient)) << got;
    EXPECT_EQ(first.out().find("] " + kFromClient), std::string::npos) << "a line goes to the others, not back";
    server.write(kFromServer + "\n");
    ASSERT_TRUE(first.read_until(has("[server] " + kFromServer), 10s)) << first.out();
    ASSERT_TRUE(third_reads("[server] " + kFromServer)) << got;
    first.write("/quit\n");
    EXPECT_EQ(first.wait(15s), 0) << first.out() << first.err();
    ASSERT_TRUE(server.read_until(has("Clients in the room: 2"), 10s)) << server.out();
    const std::string late = "still here\n";
    ASSERT_EQ(::send(third.get(), late.data(), late.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(late.size()));
    ASSERT_TRUE(second.read_until(has("] still here"), 10s)) << second.out();
    server.write("/quit\n");
    EXPECT_EQ(second.wait(15s), 0) << second.out() << second.err();
    ASSERT_TRUE(third_reads("/quit\n")) << got;
    char buf[64];
    pollfd p{third.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1);
    EXPECT_EQ(::recv(third.get(), buf, sizeof buf, 0), 0) << "the room's FIN";
    third.reset();
    EXPECT_EQ(server.wait(15s), 0) << server.out() << server.err();
    EXPECT_NE(server.out().find("3 clients were in the room"), std::string::npos) << server.out();
    EXPECT_NE(server.out().find("every expectation met"), std::string::npos) << server.out();
    expect_both_sides_closed();
}

// --json: the viewer gets received text as {"event":"message"} lines, UTF-8 intact.
TEST(ChatLab, JsonModeReportsMessages) {
    SOCKLAB_REQUIRE_ROOT();
    PrivateNetns ns;
    Child server({chat_bin(), "--role", "server", "--auto", "--json"});
    wait_for_listener();
    Child client({chat_bin(), "--role", "client", "--auto"});
    ASSERT_TRUE(server.read_until(has(kRoomOpen), 10s)) << server.out();
    client.write(kFromClient + "\n/quit\n");
    EXPECT_EQ(client.wait(15s), 0) << client.out() << client.err();
    ASSERT_TRUE(server.read_until(has("the peer typed /quit"), 10s)) << server.out();
    server.write("/quit\n");
    EXPECT_EQ(server.wait(15s), 0) << server.out() << server.err();
    bool seen = false;
    std::istringstream in(server.out());
    std::string line;
    std::string text;
    while (std::getline(in, line)) {
        const auto ev = test::read_lab_line(line);  // every line is protocol, chat text included
        if (ev.kind == LabEventKind::message) text += ev.text;
    }
    seen = text.find(kFromClient) != std::string::npos;
    EXPECT_TRUE(seen) << server.out();
}

}  // namespace
}  // namespace socklab::test
