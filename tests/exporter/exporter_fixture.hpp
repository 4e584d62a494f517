#pragma once
// A running `socklab export` for tests: started on a kernel-chosen loopback port (the first
// line it prints names it), killed and reaped by the destructor even when a test fails.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "confined.hpp"
#include "testsupport.hpp"

namespace socklab::test {

class RunningExporter {
public:
    explicit RunningExporter(std::vector<std::string> extra = {}, const Confinement& c = {}) {
        std::vector<std::string> argv{bin("socklab"), "export", "--listen", "127.0.0.1:0"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        proc_ = std::make_unique<ConfinedProcess>(argv, c);
        first_line_ = proc_->read_line(std::chrono::seconds(20)).value_or("");
        const std::string prefix = "serving metrics on http://127.0.0.1:";
        if (first_line_.rfind(prefix, 0) == 0)
            port_ = static_cast<std::uint16_t>(std::stoi(first_line_.substr(prefix.size())));
    }
    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] const std::string& first_line() const { return first_line_; }
    [[nodiscard]] std::string url() const {
        return "http://127.0.0.1:" + std::to_string(port_) + "/metrics";
    }
    // The /metrics text (curl), empty on failure.
    [[nodiscard]] std::string scrape() const {
        const auto r = run_command({"curl", "-sS", "--max-time", "10", url()});
        return r.exit_code == 0 ? r.out : std::string();
    }
    // SIGTERM, then everything it printed and its exit status.
    CommandResult stop() {
        ::kill(proc_->pid(), SIGTERM);
        return proc_->finish(std::chrono::seconds(20));
    }

private:
    std::unique_ptr<ConfinedProcess> proc_;
    std::string first_line_;
    std::uint16_t port_ = 0;
};

// The value of one sample line "name{labels} value" in exposition text; nullopt if absent.
inline std::optional<double> sample(const std::string& text, const std::string& series) {
    const std::string needle = "\n" + series + " ";
    const auto at = text.find(needle);
    if (at == std::string::npos) return std::nullopt;
    return std::stod(text.substr(at + needle.size()));
}

}  // namespace socklab::test
