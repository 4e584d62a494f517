#pragma once
// How subcommands plug into `socklab`: each cmd_*.cpp defines one register_*() that adds its
// subcommand to the root app and sets `run` when that subcommand is chosen.
#include <CLI/CLI.hpp>
#include <signal.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "socklab/args.hpp"  // port_validator(), whole_number(), ...
#include "socklab/holders.hpp"  // OwnersLookup

namespace socklab {
class Tracer;
class TransitionTracer;
class HelperClient;
}

namespace socklab::cli {

// Exit codes fixed by docs/contracts.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitNothing = 1;  // found nothing / refused
inline constexpr int kExitUsage = 2;

using Runner = std::function<int()>;

void register_list(CLI::App& root, Runner& run);
void register_who(CLI::App& root, Runner& run);
void register_why(CLI::App& root, Runner& run);
void register_free(CLI::App& root, Runner& run);
void register_trace(CLI::App& root, Runner& run);
void register_export(CLI::App& root, Runner& run);
void register_lab(CLI::App& root, Runner& run);
void register_run(CLI::App& root, Runner& run);  // run and check

// While it lives, Ctrl-C, SIGTERM and SIGHUP only set a flag (stop_requested()) instead of
// killing socklab, so a trace removes its instance and `run` still reports; the handlers have
// no SA_RESTART, so a waiting poll() returns at once. SIGPIPE is ignored: a closed pipe
// (socklab trace | head) is a failed write, not a silent death. The old handlers come back
// when it goes.
class StopSignals {
public:
    StopSignals();
    ~StopSignals();
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

private:
    struct sigaction old_int_ {}, old_term_ {}, old_hup_ {}, old_pipe_ {};
};
[[nodiscard]] bool stop_requested() noexcept;

// Stop a tracer that ran (its stop()) and say on stderr what it could not remove: the
// tracer prints nothing itself.
void stop_tracer(Tracer& tracer);
void stop_tracer(TransitionTracer& tracer);
// The same when it goes out of scope, on every way out of a command.
template <typename T>
class StopTracerAtEnd {
public:
    explicit StopTracerAtEnd(T& tracer) noexcept : tracer_(tracer) {}
    ~StopTracerAtEnd() { stop_tracer(tracer_); }
    StopTracerAtEnd(const StopTracerAtEnd&) = delete;
    StopTracerAtEnd& operator=(const StopTracerAtEnd&) = delete;

private:
    T& tracer_;
};

// Not root, a member of group socklab, socklab-helper installed: a client of the helper, and
// `announce` (a format with one %s: the helper's path) on stderr. nullptr on the other
// paths, which look at /proc themselves.
[[nodiscard]] std::unique_ptr<HelperClient> helper_for_member(const char* announce);
// socklab-helper's owners verb as the doctor's owners lookup. An answer that is not ok throws
// Error("failed to ask socklab-helper for the owners: <its reason>").
[[nodiscard]] OwnersLookup helper_owners(HelperClient& helper);

// Add the EXAMPLES block that ends every help text.
void set_examples(CLI::App& app, const std::string& examples);

}  // namespace socklab::cli
