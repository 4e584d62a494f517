#pragma once
// The command line typed in the viewer's "Run a program…" box, split into its words the way
// a shell would for the simple cases: spaces separate words, '…' and "…" keep spaces inside,
// a backslash outside single quotes takes the next character as it is. No variables, no
// globbing, no redirection: the words go to execvp() as they are. Pure (fuzzed).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace socklab::viewer {

// The words, or nullopt when a quote is not closed or the line ends in a lone backslash.
[[nodiscard]] std::optional<std::vector<std::string>> split_command_line(std::string_view line);

}  // namespace socklab::viewer
