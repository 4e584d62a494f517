// The lab protocol reader: every event of docs/contracts.md, and bad lines as errors, never crashes.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <string>
#include <utility>
#include <vector>

#include "socklab/lab_protocol.hpp"

namespace socklab {
namespace {

TEST(LabProtocol, ReadsEveryEvent) {
    auto lab = parse_lab_line(R"J({"event":"lab","lab":"passive-close","title":"Passive close","steps":7,"port":9000})J");
    ASSERT_TRUE(lab) << lab.error;
    EXPECT_EQ(lab.event->kind, LabEventKind::lab);
    EXPECT_EQ(lab.event->steps, 7);
    EXPECT_EQ(lab.event->port, 9000);

    auto step = parse_lab_line(
        R"J({"event":"step","lab":"passive-close","step":3,"steps":7,"title":"close","call":"close(5)",)J"
        R"J("result":"0","explain":"FIN sent","expect":[{"local_port":9000,"remote_port":41022,"state":"CLOSE_WAIT"},)J"
        R"J({"local_port":9000,"state":"TIME_WAIT","absent":true}],"transitions":["ESTABLISHED -> CLOSE_WAIT",{"x":1}]})J"
        "\n");
    ASSERT_TRUE(step) << step.error;
    const auto& s = *step.event;
    EXPECT_EQ(s.kind, LabEventKind::step);
    EXPECT_EQ(s.step, 3);
    EXPECT_EQ(s.call, "close(5)");
    ASSERT_EQ(s.expect.size(), 2u);
    EXPECT_EQ(s.expect[0].remote_port, 41022);
    EXPECT_EQ(s.expect[0].state, "CLOSE_WAIT");
    EXPECT_FALSE(s.expect[0].absent);
    EXPECT_TRUE(s.expect[1].absent);
    ASSERT_EQ(s.transitions.size(), 2u);
    EXPECT_EQ(s.transitions[0], "ESTABLISHED -> CLOSE_WAIT");

    auto waiting = parse_lab_line(R"J({"event":"waiting","step":4})J");
    ASSERT_TRUE(waiting);
    EXPECT_EQ(waiting.event->kind, LabEventKind::waiting);
    EXPECT_EQ(waiting.event->step, 4);

    auto observed = parse_lab_line(
        R"J({"event":"observed","step":3,"sockets":[{"state":"CLOSE_WAIT","local_addr":"127.0.0.1","local_port":9000,)J"
        R"J("remote_addr":"127.0.0.1","remote_port":41022,"inode":5}],"ok":false,"checks":[{"expect":{"local_port":9000,"state":"CLOSE_WAIT"},"ok":false}]})J");
    ASSERT_TRUE(observed) << observed.error;
    EXPECT_EQ(observed.event->ok, false);
    ASSERT_EQ(observed.event->sockets.size(), 1u);
    EXPECT_EQ(observed.event->sockets[0].remote_port, 41022);
    ASSERT_EQ(observed.event->checks.size(), 1u);
    EXPECT_FALSE(observed.event->checks[0].ok);
    EXPECT_EQ(observed.event->checks[0].expect.state, "CLOSE_WAIT");

    auto done = parse_lab_line(R"J({"event":"done","lab":"x","ok":true})J");
    ASSERT_TRUE(done);
    EXPECT_EQ(done.event->ok, true);
    auto note = parse_lab_line(R"J({"event":"note","text":"hello"})J");
    ASSERT_TRUE(note);
    EXPECT_EQ(note.event->text, "hello");
}

TEST(LabProtocol, UnknownEventsAreSkippedNotErrors) {
    auto r = parse_lab_line(R"J({"event":"future-thing","whatever":[1,2,3]})J");
    ASSERT_TRUE(r) << r.error;
    EXPECT_EQ(r.event->kind, LabEventKind::other);
    EXPECT_EQ(r.event->event, "future-thing");
}

TEST(LabProtocol, BadLinesAreErrorsThatSayWhy) {
    const std::pair<const char*, const char*> cases[] = {
        {"", "empty"},
        {"not json", "not valid JSON"},
        {"[1,2]", "not a JSON object"},
        {R"J({"lab":"x"})J", "no \"event\""},
        {R"J({"event":5})J", "no \"event\""},
        {R"J({"event":"step","step":"three"})J", "'step'"},
        {R"J({"event":"lab","port":70000})J", "'port' is out of range"},
        {R"J({"event":"lab","port":-1})J", "'port' is out of range"},
        {R"J({"event":"step","expect":{"a":1}})J", "'expect' is not a list"},
        {R"J({"event":"step","expect":[5]})J", "expectation is not an object"},
        {R"J({"event":"done","ok":"yes"})J", "'ok'"},
        {R"J({"event":"observed","sockets":[{"local_port":"x"}]})J", "'local_port'"},
        {R"J({"event":"step","step":18446744073709551615})J", "'step' is out of range"},
        {R"J({"event":"step")J", "not valid JSON"},
    };
    for (const auto& [line, why] : cases) {
        auto r = parse_lab_line(line);
        EXPECT_FALSE(r) << line;
        EXPECT_NE(r.error.find(why), std::string::npos) << line << " -> " << r.error;
    }
}

TEST(LabProtocol, PredictLinesRoundTripThroughWriterAndReader) {
    const LabPredict p{"Step 2: close(11) — what state(s) will the socket(s) be in?",
                       {"client FIN_WAIT2 / server CLOSE_WAIT", "client TIME_WAIT / server CLOSE_WAIT",
                        "client FIN_WAIT1 / server CLOSE_WAIT"}};
    const auto q = parse_lab_line(write_predict_line(2, p));
    ASSERT_TRUE(q) << q.error;
    EXPECT_EQ(q.event->kind, LabEventKind::predict);
    EXPECT_EQ(q.event->step, 2);
    ASSERT_TRUE(q.event->predict);
    EXPECT_EQ(q.event->predict->question, p.question);
    EXPECT_EQ(q.event->predict->choices, p.choices);

    const auto a = parse_lab_line(write_answer_line(2, {.answer = 3, .picked = 1, .correct = false}));
    ASSERT_TRUE(a) << a.error;
    EXPECT_EQ(a.event->kind, LabEventKind::answer);
    ASSERT_TRUE(a.event->answer);
    EXPECT_EQ(a.event->answer->answer, 3);
    EXPECT_EQ(a.event->answer->picked, 1);
    EXPECT_FALSE(a.event->answer->correct);

    const auto none = parse_lab_line(write_answer_line(4, {.answer = 2, .picked = std::nullopt, .correct = false}));
    ASSERT_TRUE(none) << none.error;
    EXPECT_FALSE(none.event->answer->picked);

    const auto done = parse_lab_line(R"J({"event":"done","lab":"bind","ok":true,"predicted":2,"questions":4})J");
    ASSERT_TRUE(done) << done.error;
    EXPECT_EQ(done.event->questions, 4);
    EXPECT_EQ(done.event->predicted, 2);
    // Without predict mode nothing of it is set.
    const auto plain = parse_lab_line(R"J({"event":"done","lab":"bind","ok":true})J");
    ASSERT_TRUE(plain);
    EXPECT_FALSE(plain.event->questions);
    EXPECT_FALSE(plain.event->answer);
    EXPECT_FALSE(plain.event->predict);
}

// Every event the lab programs print, written by core's writer and read back by its reader:
// one definition of each field (docs/contracts.md).
TEST(LabProtocol, EveryWrittenLineReadsBack) {
    const auto read = [](const std::string& line) {
        auto r = parse_lab_line(line);
        EXPECT_TRUE(r) << r.error << ": " << line;
        return r ? *r.event : LabEvent{};
    };
    const auto lab = read(write_lab_line({.lab = "accept", .number = 3, .title = "accept() takes a connection",
                                          .steps = 6, .port = 9003, .role = "both", .tracing = true,
                                          .capturing = false}));
    EXPECT_EQ(lab.kind, LabEventKind::lab);
    EXPECT_EQ(lab.lab, "accept");
    EXPECT_EQ(lab.number, 3);
    EXPECT_EQ(lab.title, "accept() takes a connection");
    EXPECT_EQ(lab.steps, 6);
    EXPECT_EQ(lab.port, 9003);
    EXPECT_EQ(lab.role, "both");
    EXPECT_EQ(lab.tracing, true);
    EXPECT_EQ(lab.capturing, false);

    const std::vector<LabExpectation> expect{
        {.local_port = 9003, .state = "LISTEN", .recv_q = 1},
        {.local_port = 9003, .remote_port = 41000, .state = "TIME_WAIT", .absent = true},
        {.proto = "udp", .local_port = 9013, .state = "UNCONN", .min_recv_q = 5, .count = 2},
        {.local_port = 41000, .remote_port = 9003, .state = "TIME_WAIT", .send_q = 0,
         .min_send_q = 1, .kernel_only = true}};
    TransitionEvent t;
    t.local_port = 9003;
    t.remote_port = 41000;
    t.old_state = 10;
    t.new_state = 3;
    const auto step = read(write_step_line({.lab = "accept", .step = 2, .steps = 6, .title = "connect",
                                            .call = "connect(4, 127.0.0.1:9003)", .result = "0",
                                            .explain = "the handshake", .expect = expect,
                                            .transitions = std::vector<TransitionEvent>{t}}));
    EXPECT_EQ(step.kind, LabEventKind::step);
    EXPECT_EQ(step.step, 2);
    EXPECT_EQ(step.steps, 6);
    EXPECT_EQ(step.call, "connect(4, 127.0.0.1:9003)");
    EXPECT_EQ(step.result, "0");
    EXPECT_EQ(step.explain, "the handshake");
    EXPECT_EQ(step.expect, expect);
    ASSERT_EQ(step.transitions.size(), 1u);
    EXPECT_NE(step.transitions[0].find("SYN_RECV"), std::string::npos) << step.transitions[0];

    SocketRecord rec;
    rec.state = 10;
    rec.local_port = 9003;
    rec.recv_q = 1;
    rec.send_q = 128;
    LabObservedLine o{.step = 2, .ok = false, .call_problem = "it returned 0"};
    o.sockets.push_back({.record = rec, .owners = {ProcessRef{42, 3, 0, "socklab-lab-acc", "root"}}});
    o.checks = {{expect[0], true}, {expect[2], false}};
    Segment seg;
    seg.family = AF_INET;
    seg.src_addr = seg.dst_addr = *parse_ip("127.0.0.1");
    seg.src_port = 41000;
    seg.dst_port = 9003;
    seg.flags = tcp_flag::SYN;
    o.segments = std::vector<Segment>{seg};
    const auto obs = read(write_observed_line(o));
    EXPECT_EQ(obs.kind, LabEventKind::observed);
    EXPECT_EQ(obs.ok, false);
    EXPECT_EQ(obs.call_problem, "it returned 0");
    ASSERT_EQ(obs.sockets.size(), 1u);
    EXPECT_EQ(obs.sockets[0].proto, "tcp");
    EXPECT_EQ(obs.sockets[0].state, "LISTEN");
    EXPECT_EQ(obs.sockets[0].local_port, 9003);
    EXPECT_EQ(obs.sockets[0].recv_q, 1u);
    EXPECT_EQ(obs.sockets[0].send_q, 128u);
    ASSERT_EQ(obs.checks.size(), 2u);
    EXPECT_EQ(obs.checks[0].expect, expect[0]);
    EXPECT_TRUE(obs.checks[0].ok);
    EXPECT_EQ(obs.checks[1].expect, expect[2]);
    EXPECT_FALSE(obs.checks[1].ok);
    ASSERT_EQ(obs.segments.size(), 1u);
    EXPECT_EQ(obs.segments[0].dst_port, 9003);
    EXPECT_TRUE(obs.segments[0].has(tcp_flag::SYN));
    // Without a capture there is no "segments" field, not an empty one.
    EXPECT_EQ(write_observed_line({.step = 1}).find("segments"), std::string::npos);

    const auto wait = read(write_waiting_line(7, true));
    EXPECT_EQ(wait.kind, LabEventKind::waiting);
    EXPECT_EQ(wait.step, 7);
    EXPECT_TRUE(wait.final);
    EXPECT_FALSE(read(write_waiting_line(3)).final);

    const auto note = read(write_note_line(4, "the peer's FIN arrived"));
    EXPECT_EQ(note.kind, LabEventKind::note);
    EXPECT_EQ(note.step, 4);
    EXPECT_EQ(note.text, "the peer's FIN arrived");
    // Bytes that are not UTF-8 (a peer's half character) are replaced, not thrown.
    const auto msg = read(write_message_line("peer", "hi \xE2\x82"));
    EXPECT_EQ(msg.kind, LabEventKind::message);
    EXPECT_EQ(msg.from, "peer");
    EXPECT_EQ(msg.text.substr(0, 3), "hi ");

    const auto done = read(write_done_line({.lab = "accept", .ok = false, .stopped = "quit",
                                            .message = "stopped at step 2", .questions = 4,
                                            .predicted = 1}));
    EXPECT_EQ(done.kind, LabEventKind::done);
    EXPECT_EQ(done.ok, false);
    EXPECT_EQ(done.stopped, "quit");
    EXPECT_EQ(done.message, "stopped at step 2");
    EXPECT_EQ(done.questions, 4);
    EXPECT_EQ(done.predicted, 1);
}

TEST(LabProtocol, BadExpectationsAreErrorsThatSayWhy) {
    for (const auto& [line, why] : std::vector<std::pair<std::string, std::string>>{
             {R"J({"event":"step","expect":[{"proto":"sctp","state":"LISTEN"}]})J", "'proto'"},
             {R"J({"event":"step","expect":[{"state":"LISTEN","recv_q":-1}]})J", "'recv_q' is out of range"},
             {R"J({"event":"step","expect":[{"state":"LISTEN","count":"2"}]})J", "'count' is not a whole number"},
             {R"J({"event":"step","expect":[{"state":"LISTEN","kernel_only":1}]})J", "'kernel_only' is not true/false"},
             {R"J({"event":"observed","sockets":[{"state":"LISTEN","send_q":4294967296}]})J", "'send_q' is out of range"},
             {R"J({"event":"waiting","step":1,"final":"yes"})J", "'final' is not true/false"}}) {
        const auto r = parse_lab_line(line);
        EXPECT_FALSE(r) << line;
        EXPECT_NE(r.error.find(why), std::string::npos) << line << " -> " << r.error;
    }
}

TEST(LabProtocol, BadPredictLinesAreErrorsThatSayWhy) {
    const std::pair<const char*, const char*> cases[] = {
        {R"J({"event":"predict","predict":"which?"})J", "'predict' is not an object"},
        {R"J({"event":"predict","predict":{"question":"q","choices":[]}})J", "no choices"},
        {R"J({"event":"predict","predict":{"question":"q"}})J", "no choices"},
        {R"J({"event":"predict","predict":{"question":7,"choices":["a"]}})J", "'question'"},
        {R"J({"event":"predict","predict":{"question":"q","choices":"a"}})J", "'choices' is not a list"},
        {R"J({"event":"predict","predict":{"question":"q","choices":["a",2]}})J", "choice is not a string"},
        {R"J({"event":"answer","answer":0,"correct":false})J", "'answer' is out of range"},
        {R"J({"event":"answer","answer":"2"})J", "'answer'"},
        {R"J({"event":"answer","answer":2,"picked":17})J", "'picked' is out of range"},
        {R"J({"event":"answer","answer":2,"picked":1,"correct":true})J", "'picked' is not the answer"},
        {R"J({"event":"answer","answer":2,"correct":"yes"})J", "'correct'"},
        {R"J({"event":"done","questions":2,"predicted":3})J", "'predicted' is more than"},
        {R"J({"event":"done","questions":-1})J", "'questions' is out of range"},
    };
    for (const auto& [line, why] : cases) {
        auto r = parse_lab_line(line);
        EXPECT_FALSE(r) << line;
        EXPECT_NE(r.error.find(why), std::string::npos) << line << " -> " << r.error;
    }
    std::string many = R"J({"event":"predict","predict":{"question":"q","choices":[)J";
    for (int i = 0; i < 17; ++i) many += std::string(i ? "," : "") + "\"c\"";
    many += "]}}";
    const auto r = parse_lab_line(many);
    EXPECT_FALSE(r);
    EXPECT_NE(r.error.find("too many"), std::string::npos) << r.error;
}

TEST(LabProtocol, ReadsTheLabList) {
    auto l = parse_lab_list(R"J([{"id":"bind","number":1,"title":"socket + bind","summary":"s","default_port":9001},)J"
                            R"J({"id":"listen","number":2,"title":"listen","summary":"t","default_port":9002}])J");
    ASSERT_TRUE(l.error.empty()) << l.error;
    ASSERT_EQ(l.labs.size(), 2u);
    EXPECT_EQ(l.labs[1].id, "listen");
    EXPECT_EQ(l.labs[1].default_port, 9002);
    EXPECT_FALSE(parse_lab_list("{}").error.empty());
    EXPECT_FALSE(parse_lab_list(R"J([{"number":1}])J").error.empty());
    EXPECT_FALSE(parse_lab_list("socklab: 'lab' is not built yet").error.empty());
}

// Found by fuzz_lab_protocol: a good lab followed by a bad one gave the error *and* the good
// lab, so a reader that looked at the list first showed half a list as if it were whole.
TEST(LabProtocol, ABadLabMakesTheWholeListAnErrorWithNoLabs) {
    const std::string good = R"J({"id":"bind","number":1,"title":"t","summary":"s","default_port":9001})J";
    for (const std::string bad : {R"J({"number":2})J", R"J({"id":"","title":"t","summary":"s"})J",
                                  R"J(7)J", R"J({"id":"x","default_port":70000})J"}) {
        const auto l = parse_lab_list("[" + good + "," + bad + "]");
        EXPECT_FALSE(l.error.empty()) << bad;
        EXPECT_TRUE(l.labs.empty()) << bad << " gave " << l.labs.size() << " lab(s) with: " << l.error;
    }
}

}  // namespace
}  // namespace socklab
