#pragma once
// The lab step protocol (docs/contracts.md): `socklab lab run ID --json` prints one JSON object
// per line; `socklab lab list --json` prints the catalogue. The writer (used by the lab
// programs) and the reader (the viewer, the tests) live here together, so every event and field
// has one definition. The reader is a pure function of the bytes with errors as values, so
// front ends never crash on a bad line and fuzzers can feed it.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "socklab/event.hpp"
#include "socklab/owners.hpp"
#include "socklab/record.hpp"
#include "socklab/segment.hpp"

namespace socklab {

enum class LabEventKind : std::uint8_t {
    lab,       // {"event":"lab","lab":ID,"title":..,"steps":N,"port":P}
    step,      // a step ran: call, result, explanation, expectations
    waiting,   // the lab waits for "next" / "auto" on its stdin
    observed,  // the table after the step, and the checks
    done,      // the lab finished; ok = every check passed
    note,      // {"event":"note","text":..}
    message,   // {"event":"message","text":..} (chat labs)
    predict,   // --predict: the question before a step: {"event":"predict","step":N,"predict":{..}}
    answer,    // --predict: after the step: {"event":"answer","step":N,"answer":K,"picked":J,"correct":B}
    other,     // an event this reader does not know: skipped, not an error
};

[[nodiscard]] std::string_view lab_event_name(LabEventKind k) noexcept;

// What a step expects in the kernel's table afterwards (the lab programs write them with
// designated initializers, so the members keep this order).
struct LabExpectation {
    std::string proto = "tcp";  // "tcp" or "udp"
    std::uint16_t local_port = 0;
    std::uint16_t remote_port = 0;
    std::string state{};
    bool absent = false;
    // Queues, where they are the lesson (a listener's backlog, bytes waiting to be read).
    std::optional<std::uint32_t> recv_q{};
    std::optional<std::uint32_t> send_q{};
    std::uint32_t min_recv_q = 0;
    std::uint32_t min_send_q = 0;
    std::uint32_t count = 0;  // exactly this many matching sockets; 0: at least one
    // A kernel-only socket (inode 0): a timewait mini-socket, no descriptor anywhere.
    bool kernel_only = false;

    bool operator==(const LabExpectation&) const = default;
};

// Does a socket in the table meet the expectation's description (state, ports, queues)?
// absent and count are about how many do: the caller counts.
[[nodiscard]] bool describes(const LabExpectation& e, const SocketRecord& r) noexcept;

struct LabCheck {
    LabExpectation expect;
    bool ok = false;
};

// A socket as an "observed" line lists it (only what the viewer shows).
struct LabSocket {
    std::string proto;
    std::string state;
    std::string local_addr;
    std::uint16_t local_port = 0;
    std::string remote_addr;
    std::uint16_t remote_port = 0;
    std::uint32_t recv_q = 0;
    std::uint32_t send_q = 0;
};

// Predict mode (--predict): the question asked before a step runs. Choices are numbered from 1
// as the learner types them.
struct LabPredict {
    std::string question;
    std::vector<std::string> choices;
};

// Predict mode: after the step, the number of the right choice, the learner's pick (none when
// nobody picked: --auto without --answers, or "next"), and whether the pick was right.
struct LabAnswer {
    int answer = 0;
    std::optional<int> picked;
    bool correct = false;
};

struct LabEvent {
    LabEventKind kind = LabEventKind::other;
    std::string event;  // the "event" text as sent
    std::string lab;
    std::string title;
    std::string call;
    std::string result;
    std::string explain;
    std::string text;  // note / message
    std::string from;  // message: "me" (the lab sent it) or "peer" (it arrived)
    int number = 0;    // lab: the lab's number in the course
    std::string role;  // lab: "both", "server" or "client"
    std::optional<bool> tracing;    // lab: transitions are traced
    std::optional<bool> capturing;  // lab: segments are captured
    int step = 0;
    int steps = 0;
    std::uint16_t port = 0;
    std::optional<bool> ok;  // observed / done
    bool final = false;      // waiting: the wait before the lab ends (after its last step)
    std::string stopped;     // done: "quit", "interrupted" or "failed" when it did not finish
    std::string message;     // done: why it stopped
    std::string call_problem;  // observed: the call did not return what the lesson expects
    std::vector<LabExpectation> expect;
    std::vector<std::string> transitions;
    std::vector<LabSocket> sockets;
    std::vector<LabCheck> checks;
    std::vector<Segment> segments;  // observed: the segments the step caused (when capturing)
    std::optional<LabPredict> predict;  // predict
    std::optional<LabAnswer> answer;    // answer
    // done, in predict mode: how many questions were asked and how many picks were right.
    std::optional<int> questions;
    std::optional<int> predicted;
};

struct LabParseResult {
    std::optional<LabEvent> event;  // set on success
    std::string error;              // otherwise: what was wrong with the line
    explicit operator bool() const noexcept { return event.has_value(); }
};

// One line of `lab run --json` output (without or with its trailing newline).
[[nodiscard]] LabParseResult parse_lab_line(std::string_view line) noexcept;

// ---- The writer: one function per event, each one JSON object without the newline.
// parse_lab_line reads every one back. Text that is not valid UTF-8 is replaced, never thrown.

struct LabHeader {
    std::string lab{};
    int number = 0;
    std::string title{};
    int steps = 0;
    std::uint16_t port = 0;
    std::string role{};
    bool tracing = false;
    bool capturing = false;
};

struct LabStepLine {
    std::string lab{};
    int step = 0;
    int steps = 0;
    std::string title{};
    std::string call{};
    std::string result{};
    std::string explain{};
    std::vector<LabExpectation> expect{};
    std::optional<std::vector<TransitionEvent>> transitions{};  // set when transitions are traced
};

struct LabObservedSocket {
    SocketRecord record{};
    std::vector<ProcessRef> owners{};  // the lab itself, when the socket is one of its descriptors
};

struct LabObservedLine {
    int step = 0;
    std::vector<LabObservedSocket> sockets{};
    bool ok = false;
    std::vector<LabCheck> checks{};
    std::optional<std::vector<Segment>> segments{};  // set when segments are captured
    std::string call_problem{};                      // empty when the call did what was expected
};

struct LabDone {
    std::string lab{};
    bool ok = false;
    std::string stopped{};  // empty when the lab ran to its end
    std::string message{};
    std::optional<int> questions{};  // predict mode: the score
    std::optional<int> predicted{};
};

[[nodiscard]] std::string write_lab_line(const LabHeader& h);
[[nodiscard]] std::string write_step_line(const LabStepLine& s);
[[nodiscard]] std::string write_observed_line(const LabObservedLine& o);
[[nodiscard]] std::string write_waiting_line(int step, bool final = false);
[[nodiscard]] std::string write_note_line(int step, std::string_view text);
[[nodiscard]] std::string write_message_line(std::string_view from, std::string_view text);
[[nodiscard]] std::string write_done_line(const LabDone& d);
[[nodiscard]] std::string write_predict_line(int step, const LabPredict& p);
[[nodiscard]] std::string write_answer_line(int step, const LabAnswer& a);

struct LabInfo {
    std::string id;
    int number = 0;
    std::string title;
    std::string summary;
    std::uint16_t default_port = 0;
};

struct LabListResult {
    std::vector<LabInfo> labs;
    std::string error;  // empty on success
};

// The whole output of `socklab lab list --json`.
[[nodiscard]] LabListResult parse_lab_list(std::string_view text) noexcept;

}  // namespace socklab
