#pragma once
// Reader for the lab step protocol (docs/contracts.md): `socklab lab run ID --json` prints one
// JSON object per line; `socklab lab list --json` prints the catalogue. Pure functions of the
// bytes, errors as values, so front ends never crash on a bad line and fuzzers can feed it.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

struct LabExpectation {
    std::uint16_t local_port = 0;
    std::uint16_t remote_port = 0;
    std::string state;
    bool absent = false;
};

struct LabCheck {
    LabExpectation expect;
    bool ok = false;
};

// A socket as an "observed" line lists it (only what the viewer shows).
struct LabSocket {
    std::string state;
    std::string local_addr;
    std::uint16_t local_port = 0;
    std::string remote_addr;
    std::uint16_t remote_port = 0;
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
    int step = 0;
    int steps = 0;
    std::uint16_t port = 0;
    std::optional<bool> ok;  // observed / done
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

// The writer of the predict-mode lines (the lab programs print them): one JSON object, no
// newline. parse_lab_line reads them back; the two are one definition of the fields.
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
