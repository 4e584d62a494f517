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
};

struct LabParseResult {
    std::optional<LabEvent> event;  // set on success
    std::string error;              // otherwise: what was wrong with the line
    explicit operator bool() const noexcept { return event.has_value(); }
};

// One line of `lab run --json` output (without or with its trailing newline).
[[nodiscard]] LabParseResult parse_lab_line(std::string_view line) noexcept;

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
