#pragma once
// Test helpers for the labs: the child process helper and `ss` as an oracle, both shared by
// every test from tests/support, and what a lab's --auto --json run said.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "child.hpp"
#include "ss.hpp"
#include "testsupport.hpp"

namespace socklab::test {

// The transitions (old>new) the kernel tracepoint reported for one step of an --auto --json
// run of lab `id`; nullopt when the tracer is not active.
inline std::optional<std::vector<std::string>> transitions_of(const std::string& id, int step) {
    const auto res = run_command({bin("socklab-lab-" + id), "--auto", "--json"}, {},
                                 std::chrono::seconds(60));
    EXPECT_EQ(res.exit_code, 0) << res.out << res.err;
    std::vector<std::string> seen;
    bool tracing = false;
    std::istringstream in(res.out);
    std::string line;
    while (std::getline(in, line)) {
        const auto ev = nlohmann::json::parse(line);
        if (ev["event"] == "lab") tracing = ev["tracing"];
        if (ev["event"] == "step" && ev["step"] == step && ev.contains("transitions"))
            for (const auto& t : ev["transitions"])
                seen.push_back(t["old_state"].get<std::string>() + ">" +
                               t["new_state"].get<std::string>());
    }
    if (!tracing) return std::nullopt;
    return seen;
}

}  // namespace socklab::test
