// libFuzzer target: the viewer's "Run a program…" box, split_command_line(). What must hold,
// for any input:
//  - no crash; nullopt only for an unclosed quote or a trailing lone backslash;
//  - a line without quotes or backslashes splits exactly at spaces, tabs and newlines;
//  - round trip: each word of a successful split, single-quoted (a ' written as '\''),
//    joined with spaces, splits back into the same words.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/command_line.hpp"

namespace {

using socklab::viewer::split_command_line;

void require(bool ok) {
    if (!ok) __builtin_trap();
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n'; }

std::vector<std::string> plain_split(std::string_view s) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < s.size()) {
        if (is_space(s[i])) {
            ++i;
            continue;
        }
        std::size_t j = i;
        while (j < s.size() && !is_space(s[j])) ++j;
        out.emplace_back(s.substr(i, j - i));
        i = j;
    }
    return out;
}

std::string quoted(const std::string& w) {
    std::string out = "'";
    for (const char c : w) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 4096) return 0;  // one typed line, not a file
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto words = split_command_line(text);
    if (text.find_first_of("'\"\\") == std::string_view::npos) {
        require(words.has_value());
        require(*words == plain_split(text));
    }
    if (!words) return 0;
    std::string again;
    for (const auto& w : *words) again += (again.empty() ? "" : " ") + quoted(w);
    const auto back = split_command_line(again);
    require(back.has_value() && *back == *words);
    return 0;
}
