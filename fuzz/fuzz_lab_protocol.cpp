// libFuzzer target: any bytes into the lab protocol readers must give a value or an error,
// never a crash, a hang or a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "socklab/lab_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    const auto line = socklab::parse_lab_line(bytes);
    if (!line && line.error.empty()) __builtin_trap();  // an error must say what was wrong
    // A predict or answer line read back must write and read again to the same fields: the
    // writer and the reader are one definition.
    if (line && line.event->predict) {
        const auto again = socklab::parse_lab_line(socklab::write_predict_line(line.event->step, *line.event->predict));
        if (!again || !again.event->predict || again.event->predict->choices != line.event->predict->choices ||
            again.event->predict->question != line.event->predict->question)
            __builtin_trap();
    }
    if (line && line.event->answer) {
        const auto& a = *line.event->answer;
        const auto again = socklab::parse_lab_line(socklab::write_answer_line(line.event->step, a));
        if (!again || !again.event->answer || again.event->answer->answer != a.answer ||
            again.event->answer->picked != a.picked || again.event->answer->correct != a.correct)
            __builtin_trap();
    }
    // So must a step's expectations and an observed line's checks and sockets.
    if (line && line.event->kind == socklab::LabEventKind::step) {
        const auto again = socklab::parse_lab_line(
            socklab::write_step_line({.step = line.event->step, .expect = line.event->expect}));
        if (!again || again.event->expect != line.event->expect) __builtin_trap();
    }
    if (line && line.event->kind == socklab::LabEventKind::observed) {
        const auto again = socklab::parse_lab_line(socklab::write_observed_line(
            {.step = line.event->step, .ok = line.event->ok.value_or(false), .checks = line.event->checks}));
        if (!again || again.event->checks.size() != line.event->checks.size()) __builtin_trap();
        for (std::size_t i = 0; i < line.event->checks.size(); ++i)
            if (again.event->checks[i].expect != line.event->checks[i].expect ||
                again.event->checks[i].ok != line.event->checks[i].ok)
                __builtin_trap();
    }
    const auto list = socklab::parse_lab_list(bytes);
    if (!list.error.empty() && !list.labs.empty()) __builtin_trap();
    return 0;
}
