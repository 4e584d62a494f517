#pragma once
// Shared by the install tests: the project version read from the top-level CMakeLists.txt
// (not from the generated header, so --version is checked against the source of truth), the
// programs that must answer --version, a staged `cmake --install`, and completion queries.
#include <filesystem>
#include <string>
#include <vector>

#include "testsupport.hpp"

namespace socklab::test {

// "0.1.0" from `project(socklab VERSION 0.1.0 ...)` in the top-level CMakeLists.txt.
[[nodiscard]] std::string project_version_from_source();

// Every program of this build that must print "socklab <version>": socklab, socklab-viewer
// (when built), socklab-helper (when built) and one socklab-lab-<id> per lab of the catalogue.
[[nodiscard]] std::vector<std::string> program_names();

// `cmake --install` of this build tree into `destdir` (DESTDIR, the configured prefix below it).
[[nodiscard]] CommandResult staged_install(const std::filesystem::path& destdir);
// Where the configured prefix lands inside `destdir` ("<destdir>/usr/local").
[[nodiscard]] std::filesystem::path staged_prefix(const std::filesystem::path& destdir);

// The words a bash completion script offers for `words` (the last one is being completed):
// sources `script`, sets COMP_WORDS/COMP_CWORD, calls `function`, returns COMPREPLY sorted.
[[nodiscard]] std::vector<std::string> bash_complete(const std::filesystem::path& script,
                                                     const std::string& function,
                                                     const std::vector<std::string>& words);

// The subcommand names a CLI11 help text lists under "Subcommands:".
[[nodiscard]] std::vector<std::string> help_subcommands(const std::string& help);

}  // namespace socklab::test
