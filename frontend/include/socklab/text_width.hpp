#pragma once
// How many terminal columns text takes, for tables that line up whatever the language:
// Hangul and other East Asian wide characters take two columns, combining marks none, and
// a byte sequence that is not UTF-8 (a process name cut at 15 bytes in the middle of a
// Hangul syllable, say) one column per maximal ill-formed part, the U+FFFD a terminal
// draws for it. A pure function with its own table (Unicode's East Asian Width property,
// W and F): no locale needed, so it is the same under C.UTF-8 and ko_KR.UTF-8.
#include <cstddef>
#include <string>
#include <string_view>

namespace socklab::text {

[[nodiscard]] std::size_t display_width(std::string_view utf8) noexcept;

// Columns of one code point: 0, 1 or 2.
[[nodiscard]] int codepoint_width(char32_t cp) noexcept;

// Appends `text`, then spaces until it fills `width` columns (nothing when it is wider).
void append_padded(std::string& out, std::string_view text, std::size_t width);

}  // namespace socklab::text
